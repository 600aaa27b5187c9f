package password

import "syscall"

// hashNice is the nice value of the hashing threads: a weight of about a
// tenth of a normal thread's under contention (CFS), none when idle.
const hashNice = 10

// lowerThreadPriority lowers the calling OS thread's scheduling priority
// (setpriority with a thread id affects that thread only on Linux). Raising
// it back would need privileges, which is why the thread is never reused.
func lowerThreadPriority() {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), hashNice)
}
