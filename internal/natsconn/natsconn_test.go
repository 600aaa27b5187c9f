package natsconn

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/authevents/authevents/internal/testenv"
)

// A server that is not there yet is no start-up failure: the connection
// keeps trying, and Ready names its state.
func TestConnectToAnAbsentServerRetriesInTheBackground(t *testing.T) {
	nc, err := Connect("nats://"+testenv.FreeAddr(t), "authevents-test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("Connect to an absent server = %v, want a connection that retries", err)
	}
	defer nc.Close()
	err = Ready(nc)(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "nats: ") {
		t.Fatalf("Ready = %v, want a nats: error while not connected", err)
	}
}

func TestReadyOnceConnected(t *testing.T) {
	nc, err := Connect(testenv.Getenv("NATS_URL", "nats://127.0.0.1:4222"), "authevents-test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	testenv.WaitFor(t, "the connection", 5e9, func() bool { return Ready(nc)(context.Background()) == nil })
}
