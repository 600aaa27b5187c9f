// Package deploy holds the deployment files (Dockerfile, docker-compose.yml's
// checks, Kubernetes manifests under k8s/, Prometheus rules under
// prometheus/) and the tests that validate them offline.
package deploy

// The PrometheusRule the Kubernetes overlays apply is generated from
// prometheus/alerts.yml, the one source of the alerts; TestPrometheusRuleIsTheAlertsFile
// fails when it is stale.
//go:generate go run gen_prometheusrule.go

// The JSON schemas under k8s/schemas are written by internal/genschemas from
// pinned inputs (k8s/schemas/README.md); with K8S_OPENAPI and K8S_CRDS unset
// it leaves them as they are.
//go:generate go run ./internal/genschemas -k8s-openapi=${K8S_OPENAPI} -crds=${K8S_CRDS}
