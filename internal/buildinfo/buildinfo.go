// Package buildinfo tells the version of the running binary, and exports
// it as the metric authevents_build_info{version,revision,goversion}.
package buildinfo

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// version and revision are set at link time:
// -ldflags "-X .../internal/buildinfo.version=v1.2.3 -X .../internal/buildinfo.revision=<commit>".
var (
	version  = ""
	revision = ""
)

// Version returns the link-time version, else the module version, else "dev".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Revision returns the link-time commit, else the one the go command
// stamped (vcs.revision, with "-dirty" for a modified tree), else "unknown".
func Revision() string {
	if revision != "" {
		return revision
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// Collector returns the gauge authevents_build_info, always 1, labelled
// with the binary's version, revision and Go version: which build runs
// where, in Prometheus and Grafana (join on instance).
func Collector() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "authevents_build_info",
		Help: "Always 1; labels name the running build: version, VCS revision and Go version.",
		ConstLabels: prometheus.Labels{
			"version": Version(), "revision": Revision(), "goversion": runtime.Version(),
		},
	}, func() float64 { return 1 })
}
