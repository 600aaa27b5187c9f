//go:build !linux

package password

// lowerThreadPriority is a no-op where per-thread priorities are not
// available: the hashing threads still run, at normal priority.
func lowerThreadPriority() {}
