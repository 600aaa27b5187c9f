package api

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v3"
)

// openAPI is the API's contract (api/openapi.yaml), embedded so the
// binary serves the document it is tested against.
//
//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 document of the API, as YAML.
func OpenAPI() []byte { return bytes.Clone(openAPI) }

// The reference page (/docs): Redoc (MIT, from its npm package; see
// reference/ and scripts/update-contract-assets.sh) renders /openapi.json
// in the browser. Everything it loads is served from the binary.
var (
	//go:embed reference/index.html
	docsPage []byte
	//go:embed reference/redoc.standalone.js.gz
	redocGz []byte
)

// docsPolicy lets the page load only what this server serves. Redoc
// builds its search index in a worker made from a blob: URL.
const docsPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// reference holds the documents served from memory.
type reference struct {
	openAPIJSON []byte
	redoc       []byte // uncompressed, for the rare client without gzip
}

// loadReference converts and unpacks once per process: every New (tests
// build hundreds of routers) shares the result.
var loadReference = sync.OnceValues(newReference)

func newReference() (*reference, error) {
	var doc any
	if err := yaml.Unmarshal(openAPI, &doc); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	j, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml as JSON: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(redocGz))
	if err != nil {
		return nil, fmt.Errorf("redoc asset: %w", err)
	}
	js, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("redoc asset: %w", err)
	}
	return &reference{openAPIJSON: j, redoc: js}, nil
}

func (r *reference) routes(e *gin.Engine) {
	e.GET("/openapi.json", func(c *gin.Context) {
		c.Header("Cache-Control", "no-cache")
		c.Data(http.StatusOK, "application/json", r.openAPIJSON)
	})
	e.GET("/docs", func(c *gin.Context) {
		c.Header("Cache-Control", "no-cache")
		c.Header("Content-Security-Policy", docsPolicy)
		c.Data(http.StatusOK, "text/html; charset=utf-8", docsPage)
	})
	e.GET("/docs/redoc.standalone.js", func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=86400")
		c.Header("Content-Security-Policy", docsPolicy)
		c.Writer.Header().Add("Vary", "Accept-Encoding") // after the CORS middleware's Vary: Origin
		if acceptsGzip(c.GetHeader("Accept-Encoding")) {
			c.Header("Content-Encoding", "gzip")
			c.Data(http.StatusOK, "text/javascript; charset=utf-8", redocGz)
			return
		}
		c.Data(http.StatusOK, "text/javascript; charset=utf-8", r.redoc)
	})
}

// acceptsGzip reports whether an Accept-Encoding value allows gzip.
func acceptsGzip(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			return strings.ReplaceAll(strings.TrimSpace(params), " ", "") != "q=0"
		}
	}
	return false
}
