package password

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
)

// startNiced starts cmd with a nice value nice above this process's.
// Linux keeps the nice value per thread, a child inherits it from the
// thread that forks it, and Go forks on the calling goroutine's thread: so
// a goroutine locks itself to a thread, raises that thread's nice value,
// starts cmd, and exits still locked, which ends the thread (unprivileged,
// it could not lower its value again). Every thread of the worker, the Go
// runtime's included, then starts at the lower priority, which niceness
// set from inside the child could not promise for threads the runtime
// made before.
func startNiced(cmd *exec.Cmd, nice int) error {
	errc := make(chan error, 1)
	go startFromOwnThread(cmd, nice, errc)
	return <-errc
}

func startFromOwnThread(cmd *exec.Cmd, nice int, errc chan<- error) {
	runtime.LockOSThread() // never unlocked on success: the thread ends with the goroutine
	tid := syscall.Gettid()
	if tid == os.Getpid() {
		// The main thread is never ended, only parked, and would keep the
		// raised value. Holding it makes the next goroutine run on
		// another thread.
		inner := make(chan error, 1)
		go startFromOwnThread(cmd, nice, inner)
		errc <- <-inner
		runtime.UnlockOSThread()
		return
	}
	// getpriority(2) returns 20 - nice.
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	if err != nil {
		errc <- fmt.Errorf("getpriority: %w", err)
		return
	}
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, min(20-prio+nice, 19)); err != nil {
		errc <- fmt.Errorf("setpriority: %w", err)
		return
	}
	errc <- cmd.Start()
}
