package deploy_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	promql "github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/authevents/authevents/internal/testenv"
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// promtool is found on PATH; scripts/test-deps.sh (make test's set-up)
// installs Debian's prometheus package, which has it, when it is missing.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		testenv.Unavailable(t, "promtool (scripts/test-deps.sh installs it)", err)
	}
	return p
}

// TestAlertRulesUnitTests runs the alert rules' unit tests
// (deploy/prometheus/alerts_test.yml: a firing and a quiet fixture per
// alert) and checks the Prometheus configuration that loads them.
func TestAlertRulesUnitTests(t *testing.T) {
	t.Parallel()
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestEveryAlertHasARunbookAndBothFixtures: each alert links
// docs/runbooks/<alert>.md, which exists and says what it means, how to
// confirm and what to do; and alerts_test.yml has a fixture where it fires
// and one where it must not.
func TestEveryAlertHasARunbookAndBothFixtures(t *testing.T) {
	t.Parallel()
	var rules ruleFile
	readYAML(t, "prometheus/alerts.yml", &rules)
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, "prometheus/alerts_test.yml", &tests)
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			url := r.Annotations["runbook_url"]
			if !strings.HasSuffix(url, "/docs/runbooks/"+r.Alert+".md") {
				t.Errorf("%s: runbook_url %q, want …/docs/runbooks/%s.md", r.Alert, url, r.Alert)
			}
			b, err := os.ReadFile("../docs/runbooks/" + r.Alert + ".md")
			if err != nil {
				t.Errorf("%s: %v", r.Alert, err)
			}
			for _, h := range []string{"## What it means", "## How to confirm", "## What to do"} {
				if !strings.Contains(string(b), h) {
					t.Errorf("docs/runbooks/%s.md lacks %q", r.Alert, h)
				}
			}
			if !fires[r.Alert] || !quiet[r.Alert] {
				t.Errorf("%s: alerts_test.yml has a firing fixture %v, a quiet one %v; want both", r.Alert, fires[r.Alert], quiet[r.Alert])
			}
		}
	}
	if n < 15 {
		t.Errorf("%d alerts, want at least the 15 of issue 11", n)
	}
}

// TestPromQLParsesAndNamesExportedMetrics: every expression of the alert
// rules and of the Grafana dashboard parses as PromQL, and names only
// metrics some binary exports (found in the source, where each metric is
// declared), Prometheus's own `up`, or the Go and process collectors'.
func TestPromQLParsesAndNamesExportedMetrics(t *testing.T) {
	t.Parallel()
	exported := exportedMetrics(t)
	for _, want := range []string{"authevents_build_info", "authevents_dependency_up", "authevents_relay_publish_latency_seconds_bucket"} {
		if !exported[want] {
			t.Fatalf("the source scan misses %s: it finds %d names", want, len(exported))
		}
	}
	exprs := map[string]string{} // where -> expression
	var rules ruleFile
	readYAML(t, "prometheus/alerts.yml", &rules)
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs["alerts.yml "+r.Alert] = r.Expr
		}
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	b, err := os.ReadFile("grafana/authevents.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana/authevents.json: %v", err)
	}
	for _, p := range dash.Panels {
		for i, tg := range p.Targets {
			exprs["authevents.json "+p.Title+" #"+strconv.Itoa(i)] = tg.Expr
		}
	}
	// Grafana's own variables become what Grafana substitutes.
	grafanaVars := regexp.MustCompile(`\$__(rate_interval|interval|range)`)
	p := promql.NewParser(promql.Options{})
	for where, e := range exprs {
		expr, err := p.ParseExpr(grafanaVars.ReplaceAllString(e, "1m"))
		if err != nil {
			t.Errorf("%s: %q does not parse: %v", where, e, err)
			continue
		}
		promql.Inspect(expr, func(n promql.Node, _ []promql.Node) error {
			vs, ok := n.(*promql.VectorSelector)
			if !ok {
				return nil
			}
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == "__name__" {
					name = m.Value
				}
			}
			if !exported[name] && name != "up" && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
				t.Errorf("%s: names %q, which no binary exports", where, name)
			}
			return nil
		})
	}
}

// exportedMetrics scans the module's non-test Go source for metric
// declarations: Name in prometheus.*Opts literals and the first argument
// of prometheus.NewDesc. A histogram also exports _bucket, _sum, _count.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "var" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				sel, ok := n.Type.(*ast.SelectorExpr)
				if !ok || !strings.HasSuffix(sel.Sel.Name, "Opts") {
					return true
				}
				for _, el := range n.Elts {
					if kv, ok := el.(*ast.KeyValueExpr); ok && isIdent(kv.Key, "Name") {
						if name, ok := stringLit(kv.Value); ok {
							names[name] = true
							if strings.HasPrefix(sel.Sel.Name, "Histogram") {
								for _, s := range []string{"_bucket", "_sum", "_count"} {
									names[name+s] = true
								}
							}
						}
					}
				}
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "NewDesc" && len(n.Args) > 0 {
					if name, ok := stringLit(n.Args[0]); ok {
						names[name] = true
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil && strings.HasPrefix(s, "authevents_")
}
