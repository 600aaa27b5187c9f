// Package deploy holds the deployment files (Dockerfile, docker-compose.yml's
// checks, Kubernetes manifests under k8s/, Prometheus rules under
// prometheus/) and the tests that validate them offline.
package deploy

// The PrometheusRule the Kubernetes overlays apply is generated from
// prometheus/alerts.yml, the one source of the alerts; TestPrometheusRuleIsTheAlertsFile
// fails when it is stale.
//go:generate go run gen_prometheusrule.go
