package eventschema_test

import (
	"strings"
	"testing"
)

// TestReasonsNameNoValue: the reason an invalid event is dead-lettered
// with (the Authevents-Last-Error header, kept 30 days) names where the
// event broke which rule, never the value it held there: a malformed
// address, IP or user agent is personal data (issue 19). It used to quote
// the value ('ada@example.com' is not valid …).
func TestReasonsNameNoValue(t *testing.T) {
	t.Parallel()
	v := load(t)
	const secret = "ada.lovelace@example.com"
	for name, c := range map[string]struct{ typ, schema, data, want string }{
		"format": {"user.registered", "user.registered/v1.json",
			`{"userId":"not a uuid ` + secret + `","email":"a@example.com","name":"Ada","timestamp":"2026-01-02T03:04:05.678Z"}`, "at '/userId': value is not valid uuid"},
		"date-time": {"user.registered", "user.registered/v1.json",
			`{"userId":"0190a4c8-0000-7000-8000-000000000001","email":"a@example.com","name":"Ada","timestamp":"` + secret + `"}`, "at '/timestamp': value is not valid date-time"},
		"pattern": {"user.logged_in_v2", "user.logged_in/v2.json",
			`{"userId":"0190a4c8-0000-7000-8000-000000000001","email":"` + secret + `","timestamp":"2026-01-02T03:04:05.678Z","ip":"pd1.` + strings.Repeat("A", 60) + `","userAgent":"pd1.` + strings.Repeat("A", 60) + `","ipPseudonym":"pu1.AAAAAAAAAAAAAAAAAAAAAA","userAgentPseudonym":"pu1.AAAAAAAAAAAAAAAAAAAAAA","keyOwner":"0190a4c8-0000-7000-8000-000000000001"}`,
			"at '/email': value does not match pattern"},
	} {
		body := `{"specversion":"1.0","id":"0190a4c8-0000-7000-8000-0000000000e1","source":"s","type":"` + c.typ + `","time":"2026-01-02T03:04:05.678Z",` +
			`"datacontenttype":"application/json","dataschema":"https://authevents.dev/schemas/events/` + c.schema + `","serviceversion":"t","environment":"t","data":` + c.data + `}`
		err := v.Validate([]byte(body))
		if err == nil {
			t.Errorf("%s: valid, want refused", name)
			continue
		}
		if strings.Contains(err.Error(), "ada.lovelace") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: reason %q, want one naming the place and the rule (%q) but not the value", name, err, c.want)
		}
	}
}
