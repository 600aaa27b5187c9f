package load

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// histogram records latencies in microseconds, 1 µs to 5 min, 3
// significant digits.
type histogram struct{ h *hdrhistogram.Histogram }

func newHistogram() *histogram {
	return &histogram{hdrhistogram.New(1, int64(5*time.Minute/time.Microsecond), 3)}
}

func (h *histogram) record(d time.Duration) { _ = h.h.RecordValue(max(d.Microseconds(), 1)) }

func (h *histogram) quantile(q float64) time.Duration {
	return time.Duration(h.h.ValueAtQuantile(q)) * time.Microsecond
}

// Quantile returns the q-th percentile (0–100) of the latencies of samples,
// through an HDR histogram; 0 when there are none.
func Quantile(samples []Sample, q float64) time.Duration {
	h := newHistogram()
	for _, s := range samples {
		h.record(s.Latency)
	}
	return h.quantile(q)
}

// OpReport is the figures of one operation.
type OpReport struct {
	Requests int         `json:"requests"`
	OK       int         `json:"ok"`
	Errors   int         `json:"errors"`
	Statuses map[int]int `json:"statuses"` // 0: no answer
	P50ms    float64     `json:"p50Ms"`
	P90ms    float64     `json:"p90Ms"`
	P99ms    float64     `json:"p99Ms"`
	Maxms    float64     `json:"maxMs"`
}

// Report is the JSON summary of a run.
type Report struct {
	Started        time.Time       `json:"started"`
	DurationS      float64         `json:"durationS"`
	TargetRate     float64         `json:"targetRate"`
	Rate           float64         `json:"rate"`
	Requests       int             `json:"requests"`
	Errors         int             `json:"errors"`
	Ops            map[Op]OpReport `json:"ops"`
	ExpectedEvents map[string]int  `json:"expectedEvents"` // the ground truth, per event type
	// Mails are the waits for a mailed link, per kind of mail.
	Mails map[string]MailReport `json:"mails,omitempty"`
	Truth []Truth               `json:"truth,omitempty"`
	Seed  uint64                `json:"seed"`
	URLs  []string              `json:"urls"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// MailReport is the waits for one kind of mail: how many came (and how
// long after the request), and how many were given up on after MailWait.
type MailReport struct {
	Found  int     `json:"found"`
	GaveUp int     `json:"gaveUp"`
	P50ms  float64 `json:"p50Ms"`
	P99ms  float64 `json:"p99Ms"`
	Maxms  float64 `json:"maxMs"`
}

// Report summarises the run; withTruth includes every ground-truth event.
func (r *Result) Report(cfg Config, withTruth bool) Report {
	rep := Report{Started: r.Started, DurationS: r.Ended.Sub(r.Started).Seconds(), TargetRate: cfg.Rate,
		Requests: len(r.Samples), Ops: map[Op]OpReport{}, ExpectedEvents: map[string]int{}, Seed: cfg.Seed, URLs: cfg.URLs}
	byOp := map[Op][]Sample{}
	for _, s := range r.Samples {
		byOp[s.Op] = append(byOp[s.Op], s)
		if !s.OK {
			rep.Errors++
		}
	}
	rep.Rate = float64(rep.Requests) / rep.DurationS
	for op, ss := range byOp {
		rep.Ops[op] = Summarise(ss)
	}
	for _, t := range r.Truth {
		rep.ExpectedEvents[t.Type]++
	}
	for kind, w := range r.Mails {
		if rep.Mails == nil {
			rep.Mails = map[string]MailReport{}
		}
		rep.Mails[kind] = MailReport{Found: w.Found, GaveUp: w.GaveUp, P50ms: ms(w.hist.quantile(50)), P99ms: ms(w.hist.quantile(99)),
			Maxms: ms(time.Duration(w.hist.h.Max()) * time.Microsecond)}
	}
	if withTruth {
		rep.Truth = r.Truth
	}
	return rep
}

// Summarise gives the figures of a set of samples.
func Summarise(ss []Sample) OpReport {
	o := OpReport{Requests: len(ss), Statuses: map[int]int{}}
	h := newHistogram()
	for _, s := range ss {
		o.Statuses[s.Status]++
		if s.OK {
			o.OK++
		} else {
			o.Errors++
		}
		h.record(s.Latency)
	}
	o.P50ms, o.P90ms, o.P99ms = ms(h.quantile(50)), ms(h.quantile(90)), ms(h.quantile(99))
	o.Maxms = ms(time.Duration(h.h.Max()) * time.Microsecond)
	return o
}

// WriteJSON writes v, indented, to path (creating its directory).
func WriteJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// SortedOps returns the operations present in m, in report order.
func SortedOps(m map[Op]OpReport) []Op {
	var out []Op
	for _, op := range Ops {
		if _, ok := m[op]; ok {
			out = append(out, op)
		}
	}
	return out
}
