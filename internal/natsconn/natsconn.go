// Package natsconn is the one way the binaries connect to NATS: reconnect
// forever with jittered backoff (the services outlive broker outages;
// rows wait in the outbox and messages in the stream meanwhile), keep
// retrying a first connection that fails, and log every disconnect and
// reconnect.
package natsconn

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Connect connects to url as client name ("authevents-relay"). It does
// not fail because the server is down: the connection is retried in the
// background, and Ready reports whether it is up.
func Connect(url, name string, log *slog.Logger) (*nats.Conn, error) {
	nc, err := nats.Connect(url, nats.Name(name), nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true), nats.Timeout(2*time.Second),
		nats.ReconnectWait(250*time.Millisecond), nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("nats disconnected", "err", err) }),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }))
	if err != nil {
		return nil, fmt.Errorf("NATS_URL: %w", err)
	}
	return nc, nil
}

// Ready returns a readiness check that fails while nc is not connected,
// naming its state ("nats: reconnecting").
func Ready(nc *nats.Conn) func(context.Context) error {
	return func(context.Context) error {
		if !nc.IsConnected() {
			return fmt.Errorf("nats: %s", strings.ToLower(nc.Status().String()))
		}
		return nil
	}
}
