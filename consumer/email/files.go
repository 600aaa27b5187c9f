package email

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/wneessen/go-mail"
)

// Files writes each message as <dir>/<event id>.eml.
type Files struct{ Dir string }

// Send writes m atomically (temp file, then rename).
func (f Files) Send(_ context.Context, id string, m *mail.Msg) error {
	if err := os.MkdirAll(f.Dir, 0o750); err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(f.Dir, ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(f.Dir, id+".eml"))
}

// Erase removes the .eml files that name addr (as a recipient or in the
// text), but the one named keep+".eml" (the confirmation of the
// deletion), and returns how many it removed. In development MAIL_DIR is
// the mail system, and these files are the service's copies of what it
// sent to the user.
func (f Files) Erase(_ context.Context, addr, keep string) (int, error) {
	entries, err := os.ReadDir(f.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	needle := []byte(strings.ToLower(addr))
	n := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".eml") || name == keep+".eml" {
			continue
		}
		path := filepath.Join(f.Dir, name)
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return n, err
		}
		if !bytes.Contains(bytes.ToLower(b), needle) {
			continue
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, err
		}
		n++
	}
	return n, nil
}
