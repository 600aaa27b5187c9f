package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents/internal/testenv"
)

// Server is a private PostgreSQL instance (initdb + pg_ctl from the
// machine's PostgreSQL binaries) on a free loopback port with its data in
// a temporary directory, for tests that crash and restart the database.
// The shared server on 5432 is never touched.
type Server struct {
	Addr string
	bin  string // the PostgreSQL bin directory
	dir  string // data directory
	t    testing.TB
}

// serverBin finds the newest /usr/lib/postgresql/*/bin with initdb.
func serverBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) < version(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("initdb not found (apt-get install postgresql)")
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// StartServer initialises and starts a private server; it is stopped and
// its data removed when t ends.
func StartServer(t testing.TB) *Server {
	t.Helper()
	bin, err := serverBin()
	if err != nil {
		testenv.Unavailable(t, "PostgreSQL server binaries", err)
	}
	// initdb and postgres refuse to run as root: as root, the data
	// directory belongs to the postgres user, who runs the server.
	base, err := os.MkdirTemp("", "authevents-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: testenv.FreeAddr(t), bin: bin, dir: filepath.Join(base, "data"), t: t}
	if os.Getuid() == 0 {
		if out, err := exec.Command("install", "-d", "-o", "postgres", "-m", "0700", s.dir).CombinedOutput(); err != nil {
			t.Fatalf("data directory: %v\n%s", err, out)
		}
	}
	if out, err := s.pg("initdb", "-D", s.dir, "-U", "postgres", "--auth=trust", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s.Start()
	t.Cleanup(func() { s.pg("pg_ctl", "-D", s.dir, "-m", "immediate", "-w", "stop").Run() })
	return s
}

// pg runs a PostgreSQL program, as the postgres user when we are root.
func (s *Server) pg(prog string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, prog)
	if os.Getuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// Start starts the server (after Crash) and waits until it accepts
// connections; crash recovery runs first.
func (s *Server) Start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%s -c unix_socket_directories='' -c max_connections=200 -c shared_buffers=32MB", port)
	cmd := s.pg("pg_ctl", "-D", s.dir, "-l", filepath.Join(s.dir, "server.log"), "-w", "-t", "60", "-o", opts, "start")
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
}

// Crash stops the server with an immediate shutdown: every backend is
// killed without a checkpoint, as in a crash; the next Start runs crash
// recovery from the WAL.
func (s *Server) Crash() {
	s.t.Helper()
	if out, err := s.pg("pg_ctl", "-D", s.dir, "-m", "immediate", "-w", "stop").CombinedOutput(); err != nil {
		s.t.Fatalf("pg_ctl stop -m immediate: %v\n%s", err, out)
	}
}

// URL returns the URL of database name on the server.
func (s *Server) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", s.Addr, name)
}

// CreateDatabase creates an empty database and returns its URL.
func (s *Server) CreateDatabase(name string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		s.t.Fatal(err)
	}
	return s.URL(name)
}
