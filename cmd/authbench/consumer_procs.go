package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The consumer benchmark's processes and its view of the durables.

// streamMsgs is the number of messages in stream (0 if there is none).
func streamMsgs(ctx context.Context, js jetstream.JetStream, stream string) (uint64, error) {
	st, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

func startConsumers(bin, svc string, env []string, n int) ([]*exec.Cmd, error) {
	var out []*exec.Cmd
	for i := range n {
		cmd := exec.Command(bin, "--service", svc)
		cmd.Env = append(env, "OPS_ADDR=127.0.0.1:"+strconv.Itoa(19291+i))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		out = append(out, cmd)
	}
	return out, nil
}

// waitDrained polls the durable until nothing is pending or unacknowledged
// and returns the processes' peak RSS (KiB).
func waitDrained(ctx context.Context, js jetstream.JetStream, stream, durable string, procs []*exec.Cmd) (int, error) {
	deadline := time.Now().Add(10 * time.Minute)
	peak := 0
	for time.Now().Before(deadline) {
		for _, p := range procs {
			peak = max(peak, hwmKiB(p.Process.Pid))
		}
		c, err := js.Consumer(ctx, stream, durable)
		if err == nil {
			info, err := c.Info(ctx)
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Stream > 0 {
				return peak, nil
			}
		} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return 0, err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, errors.New("not drained within 10 minutes")
}
