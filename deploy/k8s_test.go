package deploy_test

// Offline validation of deploy/k8s: each overlay is built with kustomize's
// own library (what `kubectl apply -k` runs), every resource is validated
// by kubeconform against the schemas shipped in k8s/schemas, and the
// rules the manifests promise (probes, limits, non-root read-only pods,
// disruption budgets, spread, grace periods, scalers, env vars the
// binaries read) are checked on the built output, so an overlay patch
// cannot quietly undo them.

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yannh/kubeconform/pkg/validator"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

var overlays = []string{"k8s/overlays/dev", "k8s/overlays/prod"}

var builds sync.Map // overlay → []*resource.Resource

// build runs `kustomize build overlay` in process.
func build(t *testing.T, overlay string) []*resource.Resource {
	t.Helper()
	if rs, ok := builds.Load(overlay); ok {
		return rs.([]*resource.Resource)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), overlay)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", overlay, err)
	}
	rs := m.Resources()
	builds.Store(overlay, rs)
	return rs
}

func TestOverlaysValidateAgainstShippedSchemas(t *testing.T) {
	v, err := validator.New([]string{schemaLocation}, validator.Opts{Strict: true, KubernetesVersion: "1.36.0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, overlay := range overlays {
		rs := build(t, overlay)
		if len(rs) < 20 {
			t.Fatalf("%s: only %d resources", overlay, len(rs))
		}
		for _, r := range rs {
			y, err := r.AsYAML()
			if err != nil {
				t.Fatal(err)
			}
			id := fmt.Sprintf("%s %s/%s", overlay, r.GetKind(), r.GetName())
			for _, res := range v.Validate(id, io.NopCloser(bytes.NewReader(y))) {
				if res.Status != validator.Valid {
					t.Errorf("%s: status %d: %v %+v", id, res.Status, res.Err, res.ValidationErrors)
				}
			}
		}
	}
}

// TestValidationCatchesMistakes proves the validator is not vacuous: a
// misspelt field, a wrong type and a bad CRD field are each refused.
func TestValidationCatchesMistakes(t *testing.T) {
	v, err := validator.New([]string{schemaLocation}, validator.Opts{Strict: true, KubernetesVersion: "1.36.0"})
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string]string{
		"misspelt field": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 2\n  selector: {matchLabels: {a: b}}\n  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}\n",
		"wrong type":     "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: x}\nspec: {maxUnavailable: [1]}\n",
		"CRD field":      "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: x}\nspec: {scaleTargetRef: {name: relay}, minReplicas: 2, triggers: []}\n",
		"CNPG instances": "apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata: {name: x}\nspec: {instances: three}\n",
	} {
		for _, res := range v.Validate(name, io.NopCloser(strings.NewReader(doc))) {
			if res.Status != validator.Invalid {
				t.Errorf("%s: status %d (%v), want Invalid", name, res.Status, res.Err)
			}
		}
	}
}

// obj is a built resource as plain data.
type obj map[string]any

func asObj(t *testing.T, r *resource.Resource) obj {
	t.Helper()
	m, err := r.Map()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// get walks keys (string for maps, int for lists) and returns nil when absent.
func (o obj) get(path ...any) any {
	var cur any = map[string]any(o)
	for _, p := range path {
		switch p := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[p]
		case int:
			l, ok := cur.([]any)
			if !ok || p >= len(l) {
				return nil
			}
			cur = l[p]
		}
	}
	return cur
}

func (o obj) str(path ...any) string { s, _ := o.get(path...).(string); return s }

func (o obj) list(path ...any) []any { l, _ := o.get(path...).([]any); return l }

func (o obj) num(path ...any) float64 {
	switch n := o.get(path...).(type) {
	case int:
		return float64(n)
	case int64:
		return float64(n)
	case float64:
		return n
	}
	return -1
}

// workloads are the authevents Deployments of an overlay (our image).
func workloads(t *testing.T, overlay string) map[string]obj {
	out := map[string]obj{}
	for _, r := range build(t, overlay) {
		if r.GetKind() != "Deployment" {
			continue
		}
		o := asObj(t, r)
		if strings.Contains(o.str("spec", "template", "spec", "containers", 0, "image"), "authevents") {
			out[r.GetName()] = o
		}
	}
	return out
}

var wantWorkloads = []string{"authevents-api", "authevents-relay", "authevents-consumer-email",
	"authevents-consumer-analytics", "authevents-consumer-security", "authevents-consumer-audit", "authevents-dashboard"}

// minGrace is each binary's worst-case shutdown after SIGTERM (docs/operations.md,
// and the constants in cmd/*): terminationGracePeriodSeconds must cover it,
// or Kubernetes SIGKILLs work the binary was finishing.
var minGrace = map[string]time.Duration{
	// preStop sleep (endpoints drain) + SHUTDOWN_TIMEOUT for in-flight requests.
	"api": 5*time.Second + 15*time.Second,
	// a batch waiting RELAY_PUBLISH_TIMEOUT (5s) + UNLISTEN 2s + pool close 3s.
	"relay": 10 * time.Second,
	// the handler in flight (statement_timeout 10s) + ops server 5s.
	"consumer":  15 * time.Second,
	"dashboard": 5 * time.Second,
}

func TestWorkloadsFollowThePolicy(t *testing.T) {
	for _, overlay := range overlays {
		ws := workloads(t, overlay)
		for _, name := range wantWorkloads {
			if _, ok := ws[name]; !ok {
				t.Errorf("%s: no Deployment %s", overlay, name)
			}
		}
		pdbs, spreads := map[string]bool{}, 0
		for _, r := range build(t, overlay) {
			if r.GetKind() == "PodDisruptionBudget" {
				o := asObj(t, r)
				pdbs[o.str("spec", "selector", "matchLabels", "app.kubernetes.io/name")] = true
			}
		}
		for name, d := range ws {
			where := overlay + " " + name
			pod := obj(d.get("spec", "template", "spec").(map[string]any))
			app := d.str("spec", "template", "metadata", "labels", "app.kubernetes.io/name")
			if !pdbs[app] {
				t.Errorf("%s: no PodDisruptionBudget selects app.kubernetes.io/name=%s", where, app)
			}
			if tsc := pod.list("topologySpreadConstraints"); len(tsc) == 0 {
				t.Errorf("%s: no topologySpreadConstraints", where)
			} else {
				spreads++
			}
			// A Secret volume's files belong to root unless fsGroup is
			// set: without it a non-root process cannot read the
			// signing key (defaultMode 0440) and the API exits at start.
			if fs, gid := pod.get("securityContext", "fsGroup"), pod.get("securityContext", "runAsGroup"); fs == nil || fs != gid {
				t.Errorf("%s: pod securityContext.fsGroup %v, want the runAsGroup %v so mounted Secrets are readable", where, fs, gid)
			}
			if pod.get("securityContext", "runAsNonRoot") != true {
				t.Errorf("%s: pod securityContext.runAsNonRoot is not true", where)
			}
			if pod.get("automountServiceAccountToken") != false {
				t.Errorf("%s: the service account token is mounted (no binary talks to the API server)", where)
			}
			c := obj(pod.list("containers")[0].(map[string]any))
			bin := c.str("command", 0)
			if want, ok := minGrace[bin]; !ok {
				t.Errorf("%s: command %v is not a known binary", where, c.get("command"))
			} else if g := pod.num("terminationGracePeriodSeconds"); time.Duration(g)*time.Second < want+5*time.Second {
				t.Errorf("%s: terminationGracePeriodSeconds %v, want at least %v (shutdown) + 5s", where, g, want)
			}
			for _, k := range []string{"readOnlyRootFilesystem", "runAsNonRoot"} {
				if c.get("securityContext", k) != true {
					t.Errorf("%s: securityContext.%s is not true", where, k)
				}
			}
			if c.get("securityContext", "allowPrivilegeEscalation") != false {
				t.Errorf("%s: allowPrivilegeEscalation is not false", where)
			}
			if !slices.Contains(c.list("securityContext", "capabilities", "drop"), any("ALL")) {
				t.Errorf("%s: capabilities not dropped", where)
			}
			for _, kind := range []string{"requests", "limits"} {
				for _, res := range []string{"cpu", "memory"} {
					if c.get("resources", kind, res) == nil {
						t.Errorf("%s: no resources.%s.%s", where, kind, res)
					}
				}
			}
			var opsPort float64 = -1
			for _, p := range c.list("ports") {
				if p := obj(p.(map[string]any)); p.str("name") == "ops" {
					opsPort = p.num("containerPort")
				}
			}
			if opsPort < 0 {
				t.Errorf("%s: no container port named ops", where)
			}
			for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
				if got := c.str(probe, "httpGet", "path"); got != path {
					t.Errorf("%s: %s path %q, want %q", where, probe, got, path)
				}
				if port := c.get(probe, "httpGet", "port"); port != "ops" {
					t.Errorf("%s: %s on port %v, want the ops port", where, probe, port)
				}
			}
			// The binary must listen where the probes look (the
			// dashboard's UI has a listener of its own, DASHBOARD_ADDR).
			addrVar := "OPS_ADDR"
			if addr := envValue(c, addrVar); !strings.HasSuffix(addr, ":"+strconv.Itoa(int(opsPort))) {
				t.Errorf("%s: %s %q does not listen on the ops port %v", where, addrVar, addr, opsPort)
			}
		}
		if spreads == 0 {
			t.Errorf("%s: nothing spread", overlay)
		}
	}
}

func envValue(c obj, name string) string {
	for _, e := range c.list("env") {
		if e := obj(e.(map[string]any)); e.str("name") == name {
			return e.str("value")
		}
	}
	return ""
}

// TestScalers: the relay scales on outbox lag from 2 replicas, each
// consumer on its pending messages, the API on CPU; every metric a query
// names is one the binaries export.
func TestScalers(t *testing.T) {
	exported := exportedMetrics(t)
	for _, overlay := range overlays {
		scaled := map[string]string{}
		for _, r := range build(t, overlay) {
			o := asObj(t, r)
			switch r.GetKind() {
			case "ScaledObject":
				target := o.str("spec", "scaleTargetRef", "name")
				var queries []string
				for _, tr := range o.list("spec", "triggers") {
					tr := obj(tr.(map[string]any))
					if tr.str("type") != "prometheus" {
						t.Errorf("%s %s: trigger type %q", overlay, r.GetName(), tr.str("type"))
					}
					queries = append(queries, tr.str("metadata", "query"))
				}
				q := strings.Join(queries, "\n")
				scaled[target] = q
				for _, m := range regexp.MustCompile(`authevents_[a-z_]+`).FindAllString(q, -1) {
					if !exported[m] {
						t.Errorf("%s %s: query uses %s, which no binary exports", overlay, r.GetName(), m)
					}
				}
				if target == "authevents-relay" {
					if o.num("spec", "minReplicaCount") < 2 {
						t.Errorf("%s: relay minReplicaCount %v, want >= 2", overlay, o.get("spec", "minReplicaCount"))
					}
					for _, m := range []string{"authevents_outbox_backlog", "authevents_outbox_oldest_unsent_age_seconds"} {
						if !strings.Contains(q, m) {
							t.Errorf("%s: the relay does not scale on %s", overlay, m)
						}
					}
				}
				if strings.HasPrefix(target, "authevents-consumer-") && !strings.Contains(q, "authevents_consumer_pending_messages") {
					t.Errorf("%s: %s does not scale on authevents_consumer_pending_messages", overlay, target)
				}
			case "HorizontalPodAutoscaler":
				target := o.str("spec", "scaleTargetRef", "name")
				scaled[target] = "hpa"
				if o.str("spec", "metrics", 0, "resource", "name") != "cpu" {
					t.Errorf("%s: HPA %s is not on CPU", overlay, r.GetName())
				}
			}
		}
		for _, w := range []string{"authevents-relay", "authevents-consumer-email", "authevents-consumer-analytics", "authevents-consumer-security", "authevents-consumer-audit"} {
			if _, ok := scaled[w]; !ok {
				t.Errorf("%s: no ScaledObject for %s", overlay, w)
			}
		}
		if scaled["authevents-api"] != "hpa" {
			t.Errorf("%s: no HPA for the api", overlay)
		}
	}
}

// runtimeEnv are read by the Go runtime, not by a Config.
var runtimeEnv = map[string]bool{"GOMEMLIMIT": true, "GOMAXPROCS": true, "GOGC": true}

// TestManifestEnvVarsExistInConfig: every variable a manifest sets is read
// by the binary the container runs (a typo or a renamed variable would be
// silently ignored by the binary).
func TestManifestEnvVarsExistInConfig(t *testing.T) {
	known := map[string]map[string]bool{}
	for _, overlay := range overlays {
		configMaps := map[string][]string{}
		for _, r := range build(t, overlay) {
			if r.GetKind() == "ConfigMap" {
				for k := range r.GetDataMap() {
					configMaps[r.GetName()] = append(configMaps[r.GetName()], k)
				}
			}
		}
		for _, r := range build(t, overlay) {
			if r.GetKind() != "Deployment" && r.GetKind() != "Job" {
				continue
			}
			o := asObj(t, r)
			pod := obj(o.get("spec", "template", "spec").(map[string]any))
			for _, c := range append(pod.list("initContainers"), pod.list("containers")...) {
				c := obj(c.(map[string]any))
				if !strings.Contains(c.str("image"), "authevents") {
					continue
				}
				bin := c.str("command", 0)
				if _, ok := known[bin]; !ok {
					known[bin] = envRead(t, bin)
				}
				if known[bin] == nil {
					t.Logf("%s %s: cmd/%s is not in this tree; its variables are unchecked", overlay, r.GetName(), bin)
					continue
				}
				var names []string
				for _, e := range c.list("env") {
					names = append(names, obj(e.(map[string]any)).str("name"))
				}
				for _, ef := range c.list("envFrom") {
					names = append(names, configMaps[obj(ef.(map[string]any)).str("configMapRef", "name")]...)
				}
				for _, n := range names {
					if !known[bin][n] && !runtimeEnv[n] {
						t.Errorf("%s %s/%s: %s is not read by %s (cmd/%s)", overlay, r.GetName(), c.str("name"), n, bin, bin)
					}
				}
			}
		}
	}
	if len(known["api"]) < 20 || !known["relay"]["STREAM_REPLICAS"] || !known["authctl"]["DATABASE_URL"] {
		t.Fatalf("envRead found too little: %v", known)
	}
}

// envRead returns the variables cmd/<bin> reads: `env:"NAME"` tags of its
// Config, and the literal names passed to os.Getenv, os.LookupEnv and
// helpers named like them. nil when cmd/<bin> is absent.
func envRead(t *testing.T, bin string) map[string]bool {
	dir := filepath.Join("..", "cmd", bin)
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	fset := token.NewFileSet()
	out := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.Field:
				if n.Tag != nil {
					tag, _ := strconv.Unquote(n.Tag.Value)
					if name, _, _ := strings.Cut(reflect.StructTag(tag).Get("env"), ","); name != "" {
						out[name] = true
					}
				}
			case *ast.CallExpr:
				// os.Getenv("X"), os.LookupEnv("X") and helpers like getenv("X", def).
				var fn string
				switch f := n.Fun.(type) {
				case *ast.SelectorExpr:
					fn = f.Sel.Name
				case *ast.Ident:
					fn = f.Name
				}
				if strings.Contains(strings.ToLower(fn), "env") && len(n.Args) > 0 {
					if lit, ok := n.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						out[s] = true
					}
				}
			}
			return true
		})
	}
	return out
}

// TestPrometheusRuleIsTheAlertsFile: the PrometheusRule the overlays apply
// carries exactly deploy/prometheus/alerts.yml (it is generated from it).
func TestPrometheusRuleIsTheAlertsFile(t *testing.T) {
	b, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var alerts map[string]any
	if err := yaml.Unmarshal(b, &alerts); err != nil {
		t.Fatal(err)
	}
	for _, overlay := range overlays {
		found := false
		for _, r := range build(t, overlay) {
			if r.GetKind() != "PrometheusRule" {
				continue
			}
			found = true
			spec := asObj(t, r).get("spec")
			if !reflect.DeepEqual(spec, alerts) {
				t.Errorf("%s: PrometheusRule %s differs from prometheus/alerts.yml: run `go generate ./deploy`", overlay, r.GetName())
			}
		}
		if !found {
			t.Errorf("%s: no PrometheusRule", overlay)
		}
	}
}

// TestNATSValuesMatchTheChart: every key of the prod NATS values exists in
// the pinned chart's own values.yaml (a misspelt key is silently ignored by
// Helm), under maps the chart leaves open ({} or merge); and the values ask
// for what the relay's STREAM_REPLICAS=3 needs: a 3-node JetStream cluster
// on files.
func TestNATSValuesMatchTheChart(t *testing.T) {
	load := func(path string) map[string]any {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return m
	}
	chart := load("k8s/schemas/nats-chart-2.14.2-values.yaml")
	values := load("k8s/overlays/prod/nats/values.yaml")
	var walk func(path string, v, def map[string]any)
	walk = func(path string, v, def map[string]any) {
		for k, val := range v {
			d, ok := def[k]
			if !ok {
				t.Errorf("nats values: %s%s is not a value of the chart", path, k)
				continue
			}
			sub, isMap := val.(map[string]any)
			dsub, defIsMap := d.(map[string]any)
			if isMap && defIsMap && len(dsub) > 0 && k != "merge" {
				walk(path+k+".", sub, dsub)
			}
		}
	}
	walk("", values, chart)
	v := obj(values)
	if v.get("config", "cluster", "enabled") != true || v.num("config", "cluster", "replicas") != 3 {
		t.Error("nats values: not a 3-node cluster")
	}
	if v.get("config", "jetstream", "enabled") != true || v.get("config", "jetstream", "fileStore", "enabled") != true {
		t.Error("nats values: JetStream without file storage")
	}

	replicas, instances := "", -1.0
	for _, r := range build(t, "k8s/overlays/prod") {
		o := asObj(t, r)
		switch {
		case r.GetKind() == "Deployment" && r.GetName() == "authevents-relay":
			replicas = envValue(obj(o.list("spec", "template", "spec", "containers")[0].(map[string]any)), "STREAM_REPLICAS")
		case r.GetKind() == "Cluster":
			instances = o.num("spec", "instances")
		}
	}
	if replicas != "3" {
		t.Errorf("prod relay STREAM_REPLICAS = %q, want 3", replicas)
	}
	if instances != 3 {
		t.Errorf("prod CloudNativePG instances = %v, want 3", instances)
	}
}
