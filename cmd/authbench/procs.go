package main

// The processes a benchmark starts and measures: relays and consumers as
// child processes, and the CPU and memory of those and of PostgreSQL and
// the nats-server, read from /proc.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuOf is a process's user + system CPU time so far (Linux /proc), or 0
// once it has exited.
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// cpuByName sums cpuOf over every process whose command name is one of
// names (all PostgreSQL backends, the nats-server).
func cpuByName(names ...string) map[string]time.Duration {
	out := map[string]time.Duration{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		i, j := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
		if i < 0 || j < i {
			continue
		}
		comm := string(b[i+1 : j])
		for _, n := range names {
			if comm == n {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
				out[n] += cpuOf(pid)
			}
		}
	}
	return out
}

func startRelays(bin string, env []string, n int) ([]*exec.Cmd, error) {
	var out []*exec.Cmd
	for i := range n {
		cmd := exec.Command(bin)
		cmd.Env = append(env, "OPS_ADDR=127.0.0.1:"+strconv.Itoa(19191+i))
		cmd.Stderr = os.Stderr
		if os.Getenv("AUTHBENCH_DEBUG") != "" {
			cmd.Stdout = os.Stderr
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		out = append(out, cmd)
	}
	return out, nil
}

func stopRelays(procs []*exec.Cmd) {
	for _, p := range procs {
		p.Process.Signal(os.Interrupt)
	}
	for _, p := range procs {
		p.Wait()
	}
}

// hwmKiB reads a process's peak resident set size.
func hwmKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}
