// Package deploy_test checks docker-compose.yml without a Docker engine:
// it parses the file and verifies what `docker compose config` would
// reject, plus the names our contract fixes.
package deploy_test

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type compose struct {
	Services map[string]struct {
		Image       string         `yaml:"image"`
		Build       any            `yaml:"build"`
		Command     []string       `yaml:"command"`
		Environment map[string]any `yaml:"environment"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Volumes []string `yaml:"volumes"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func TestComposeFile(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, want := range []string{"postgres", "redis", "nats", "migrate", "api"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("service %q missing", want)
		}
	}
	conditions := map[string]bool{"service_started": true, "service_healthy": true, "service_completed_successfully": true}
	for name, s := range c.Services {
		if s.Image == "" && s.Build == nil {
			t.Errorf("%s: neither image nor build", name)
		}
		for dep, d := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("%s depends on unknown service %q", name, dep)
			}
			if !conditions[d.Condition] {
				t.Errorf("%s: depends_on %s has condition %q", name, dep, d.Condition)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
				if _, ok := c.Volumes[src]; !ok {
					t.Errorf("%s: volume %q not declared", name, src)
				}
			}
		}
		if s.Build != nil && len(s.Command) == 0 {
			t.Errorf("%s: app service without a command", name)
		}
	}
	if !strings.Contains(strings.Join(c.Services["nats"].Command, " "), "-js") {
		t.Error("nats runs without JetStream (-js)")
	}
	api := c.Services["api"]
	for _, k := range []string{"DATABASE_URL", "REDIS_URL", "NATS_URL", "HTTP_ADDR", "OPS_ADDR", "JWT_PRIVATE_KEY_FILE", "APP_ENV", "SERVICE_NAME"} {
		if _, ok := api.Environment[k]; !ok {
			t.Errorf("api environment lacks %s", k)
		}
	}
	if _, err := os.Stat("../deploy/Dockerfile"); err != nil {
		t.Errorf("the build's Dockerfile: %v", err)
	}
}
