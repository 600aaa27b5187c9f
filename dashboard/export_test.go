package dashboard

import (
	"io"
	"log/slog"
	"net/http"
)

// NewForTest is a dashboard with no sources, for the access tests.
func NewForTest(auth Auth) http.Handler {
	d := &Dashboard{cfg: Config{Auth: auth}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return d.Handler()
}
