// Package deploy_test validates the deployment files without a Docker
// engine or a cluster: docker-compose.yml with the Compose specification's
// own loader (compose-spec/compose-go, what `docker compose config` runs),
// the Kubernetes overlays with kustomize and kubeconform (k8s_test.go).
package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads docker-compose.yml as `docker compose [--env-file f] config` would.
func loadCompose(t *testing.T, envFile string) *types.Project {
	t.Helper()
	opts := []cli.ProjectOptionsFn{cli.WithWorkingDirectory("..")}
	if envFile != "" {
		opts = append(opts, cli.WithEnvFiles(envFile))
	} else {
		opts = append(opts, cli.WithDiscardEnvFile)
	}
	opts = append(opts, cli.WithDotEnv, cli.WithDefaultProfiles())
	o, err := cli.NewProjectOptions([]string{"../docker-compose.yml"}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	p, err := o.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return p
}

// appServices are the services running an authevents binary.
func appServices(p *types.Project) map[string]types.ServiceConfig {
	out := map[string]types.ServiceConfig{}
	for name, s := range p.Services {
		if s.Build != nil {
			out[name] = s
		}
	}
	return out
}

func env(s types.ServiceConfig, k string) string {
	if v := s.Environment[k]; v != nil {
		return *v
	}
	return ""
}

func TestComposeFileLoads(t *testing.T) {
	p := loadCompose(t, "")
	want := []string{"postgres", "redis", "nats", "mailpit", "migrate", "keygen", "api", "relay",
		"consumer-email", "consumer-analytics", "consumer-security", "consumer-audit", "dashboard", "prometheus", "grafana"}
	for _, name := range want {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("service %s missing", name)
		}
	}
	for _, name := range []string{"nats-1", "nats-2", "nats-3"} {
		if _, ok := p.Services[name]; ok {
			t.Errorf("%s runs without the cluster profile", name)
		}
	}
	// Every file a service mounts from the repository exists (a missing
	// one becomes an empty directory and the service fails).
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s mounts %s: %v", name, v.Source, err)
				}
			}
		}
	}
}

// TestComposeFixes: one check per problem a new user met (issue 13).
func TestComposeFixes(t *testing.T) {
	p := loadCompose(t, "")

	t.Run("nats health check asks JetStream", func(t *testing.T) {
		for name, s := range p.Services {
			if !strings.HasPrefix(s.Image, "nats:") || s.HealthCheck == nil {
				continue
			}
			test := strings.Join(s.HealthCheck.Test, " ")
			if strings.Contains(test, "--help") || !strings.Contains(test, "/healthz?js-enabled-only=true") {
				t.Errorf("%s: health check %q does not ask JetStream", name, test)
			}
		}
		if s := p.Services["relay"]; s.DependsOn["nats"].Condition != types.ServiceConditionHealthy {
			t.Error("relay does not wait for a healthy nats")
		}
	})

	t.Run("no binary runs as root", func(t *testing.T) {
		for name, s := range appServices(p) {
			if s.User != "" {
				t.Errorf("%s: user %q, want the image's nonroot", name, s.User)
			}
			if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") {
				t.Errorf("%s: read_only %v, cap_drop %v", name, s.ReadOnly, s.CapDrop)
			}
		}
		df := readFile(t, "Dockerfile")
		for _, want := range []string{"USER 65532:65532", "mkdir -p /out/root/keys", "--chown=65532:65532 /out/root/ /", "distroless/static-debian12:nonroot"} {
			if !strings.Contains(df, want) {
				t.Errorf("deploy/Dockerfile lacks %q", want)
			}
		}
	})

	t.Run("build context leaves out var, keys and .git", func(t *testing.T) {
		ignored := strings.Fields(readFile(t, "../.dockerignore"))
		for _, want := range []string{"var/", ".git", "**/*.pem", "bin/"} {
			if !slices.Contains(ignored, want) {
				t.Errorf(".dockerignore does not list %s", want)
			}
		}
	})

	t.Run("VERSION reaches the build", func(t *testing.T) {
		for name, s := range appServices(p) {
			if v := s.Build.Args["VERSION"]; v == nil || *v != "dev" {
				t.Errorf("%s: build arg VERSION = %v, want ${VERSION:-dev}", name, v)
			}
		}
		if df := readFile(t, "Dockerfile"); !strings.Contains(df, "ARG VERSION") || !strings.Contains(df, "buildinfo.version=${VERSION}") {
			t.Error("deploy/Dockerfile does not put VERSION into the binaries")
		}
	})

	t.Run("welcome mail goes to mailpit", func(t *testing.T) {
		email := p.Services["consumer-email"]
		if u := env(email, "SMTP_URL"); !strings.HasPrefix(u, "smtp://mailpit:1025") {
			t.Errorf("consumer-email SMTP_URL = %q, want mailpit", u)
		}
		if _, ok := email.DependsOn["mailpit"]; !ok {
			t.Error("consumer-email does not wait for mailpit")
		}
	})

	t.Run("redis keeps revocations across restarts and never evicts", func(t *testing.T) {
		r := p.Services["redis"]
		var conf string
		dataVolume := false
		for _, v := range r.Volumes {
			if v.Type == types.VolumeTypeBind && v.Target == r.Command[1] {
				conf = readFile(t, v.Source)
			}
			if v.Type == types.VolumeTypeVolume && v.Target == "/data" {
				dataVolume = true
			}
		}
		for _, want := range []string{"appendonly yes", "maxmemory-policy noeviction", "dir /data"} {
			if !regexp.MustCompile(`(?m)^` + want + `$`).MatchString(conf) {
				t.Errorf("the redis.conf compose mounts lacks %q", want)
			}
		}
		if !dataVolume {
			t.Error("redis /data is not a named volume")
		}
	})

	t.Run("every ops port is published", func(t *testing.T) {
		for name, s := range appServices(p) {
			addr := env(s, "OPS_ADDR")
			if addr == "" {
				addr = env(s, "DASHBOARD_ADDR")
			}
			if addr == "" {
				continue
			}
			port := addr[strings.LastIndex(addr, ":")+1:]
			published := false
			for _, pc := range s.Ports {
				if pc.Published == port && pc.Target == parsePort(t, port) {
					published = true
				}
			}
			if !published {
				t.Errorf("%s: ops port %s not published", name, port)
			}
		}
	})

	t.Run("nats is the version the tests pin", func(t *testing.T) {
		m := regexp.MustCompile(`github.com/nats-io/nats-server/v2 v(\d+\.\d+\.\d+)`).FindStringSubmatch(readFile(t, "../go.mod"))
		if m == nil {
			t.Fatal("go.mod pins no nats-server")
		}
		for _, envFile := range []string{"", "compose-cluster.env"} {
			for name, s := range loadCompose(t, envFile).Services {
				if strings.HasPrefix(s.Image, "nats:") && !strings.HasPrefix(s.Image, "nats:"+m[1]) {
					t.Errorf("%s: image %s, tests pin nats-server %s", name, s.Image, m[1])
				}
			}
		}
	})
}

func TestComposeEnvVarsExistInConfig(t *testing.T) {
	for _, envFile := range []string{"", "compose-cluster.env"} {
		for name, s := range appServices(loadCompose(t, envFile)) {
			bin := s.Command[0]
			read := envRead(t, bin)
			if read == nil {
				t.Logf("%s: cmd/%s is not in this tree; its variables are unchecked", name, bin)
				continue
			}
			for k := range s.Environment {
				if !read[k] && !runtimeEnv[k] {
					t.Errorf("%s: %s is not read by %s (cmd/%s)", name, k, bin, bin)
				}
			}
		}
	}
}

// TestComposeCluster: the env file turns on three clustered JetStream
// servers and points every binary at them, with the stream at 3 replicas.
func TestComposeCluster(t *testing.T) {
	p := loadCompose(t, "compose-cluster.env")
	nodes := []string{"nats-1", "nats-2", "nats-3"}
	for _, n := range nodes {
		s, ok := p.Services[n]
		if !ok {
			t.Fatalf("%s not started by the cluster env file", n)
		}
		cmd := strings.Join(s.Command, " ")
		if !strings.Contains(cmd, "-n "+n) || !strings.Contains(cmd, "--cluster_name authevents") || !strings.Contains(cmd, "-js") {
			t.Errorf("%s: command %q is not a named JetStream cluster member", n, cmd)
		}
		for _, other := range nodes {
			if !strings.Contains(cmd, "nats://"+other+":6222") {
				t.Errorf("%s has no route to %s", n, other)
			}
		}
	}
	if r := env(p.Services["relay"], "STREAM_REPLICAS"); r != "3" {
		t.Errorf("relay STREAM_REPLICAS = %q, want 3", r)
	}
	for name, s := range appServices(p) {
		if u := env(s, "NATS_URL"); u != "" && u != "nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222" {
			t.Errorf("%s: NATS_URL %q is not the cluster", name, u)
		}
	}
	if r := env(loadCompose(t, "").Services["relay"], "STREAM_REPLICAS"); r != "1" {
		t.Errorf("single-node relay STREAM_REPLICAS = %q, want 1", r)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Clean(path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func parsePort(t *testing.T, s string) uint32 {
	t.Helper()
	var n uint32
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("port %q", s)
		}
		n = n*10 + uint32(c-'0')
	}
	return n
}
