// Package daemon is the main/run skeleton the server binaries share: main
// turns SIGINT and SIGTERM into a cancelled context and calls run, which
// takes its environment and output explicitly so that tests call it as a
// function; an error from run is printed as "<binary>: <error>" and the
// process exits 1.
package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/authevents/authevents/internal/config"
)

// Run is the body of a binary: it blocks until ctx ends or it fails.
type Run func(ctx context.Context, args []string, environ map[string]string, stdout io.Writer) error

// Main runs run with the process's arguments, environment and standard
// output, until SIGINT or SIGTERM, and exits 1 if it fails.
func Main(binary string, run Run) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], config.Environ(), os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, binary+": "+err.Error())
		os.Exit(1)
	}
}
