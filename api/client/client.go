// Package client is a typed Go client of the authevents API, generated
// from api/openapi.yaml by oapi-codegen (client.gen.go; regenerate with
// go generate ./api/client, and make lint/spec fails when it is stale).
// ClientWithResponses decodes each documented status into its own field
// (JSON201, JSON400, …).
package client

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../openapi.yaml
