package email

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"
)

// A Mail is one message the email service writes: who gets it, its
// subject, and its text and HTML parts. Kind names its template and is
// part of its Message-ID, so one event can send more than one mail (an
// email change writes to the new address and to the old one), each once.
type Mail struct {
	Kind    string
	To      string
	Subject string
	Text    string
	HTML    string
}

// The kinds of mail, one template pair each in templates/.
const (
	KindWelcome             = "welcome"
	KindVerify              = "verify"
	KindRegistrationAttempt = "registration-attempt"
	KindReset               = "reset"
	KindPasswordChanged     = "password-changed"
	KindEmailChangeVerify   = "email-change-verify"
	KindEmailChangeNotice   = "email-change-notice"
	KindEmailChangeTaken    = "email-change-taken"
	KindEmailChanged        = "email-changed"
	KindAccountDeleted      = "account-deleted"
)

//go:embed templates/*.txt templates/*.html
var templateFiles embed.FS

var (
	textTemplates = texttemplate.Must(texttemplate.New("").ParseFS(templateFiles, "templates/*.txt"))
	htmlTemplates = htmltemplate.Must(htmltemplate.New("").ParseFS(templateFiles, "templates/*.html"))
)

// Content is what the templates may show. Addresses come from users: the
// text part shows them as they are (they hold no control characters, the
// API refuses those), the HTML part escapes them, and no header is built
// from them but the recipient, which go-mail encodes. It holds no name on
// purpose: whoever registers chooses the name, before the address is
// proven, so a name in a mail would carry anyone's words to any address.
type Content struct {
	Email     string
	NewEmail  string
	Link      string // the one-time link, with its token
	ExpiresAt time.Time
	IP        string
	When      time.Time
	Reason    string
}

// Compose renders the mail of kind to.
func Compose(kind, to, subject string, c Content) (Mail, error) {
	m := Mail{Kind: kind, To: to, Subject: oneLine(subject)}
	var text, html bytes.Buffer
	if err := textTemplates.ExecuteTemplate(&text, kind+".txt", c); err != nil {
		return Mail{}, fmt.Errorf("mail %s, text part: %w", kind, err)
	}
	if err := htmlTemplates.ExecuteTemplate(&html, kind+".html", c); err != nil {
		return Mail{}, fmt.Errorf("mail %s, HTML part: %w", kind, err)
	}
	m.Text = strings.ReplaceAll(text.String(), "\n", "\r\n")
	m.HTML = html.String()
	return m, nil
}

// LinkTo builds a one-time link: base (LINK_BASE_URL) + path, with the
// token as its only query parameter.
func LinkTo(base, path, token string) string {
	return strings.TrimRight(base, "/") + path + "?" + url.Values{"token": {token}}.Encode()
}

// oneLine keeps a header value on one line whatever a name holds.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' || r < 0x20 || r == 0x7f }), " ")
}
