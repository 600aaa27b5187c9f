package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/eventschema"
)

// schemaRoutes serve the JSON Schemas of the events at the path of their
// URIs (authevents.DataSchemaPath), so that a consumer can fetch what an
// event's dataschema names from the deployment it reads. Like
// /openapi.json: revalidated on each use, CORS as configured.
func schemaRoutes(e *gin.Engine) {
	for _, version := range []string{"v1.json", "v2.json"} {
		e.GET(authevents.DataSchemaPath+":type/"+version, func(c *gin.Context) {
			b, ok := eventschema.File(c.Param("type") + "/" + version)
			if !ok {
				fail(c, newHTTPError(http.StatusNotFound, CodeNotFound, "no such event schema", nil))
				return
			}
			c.Header("Cache-Control", "no-cache")
			c.Data(http.StatusOK, "application/json", b)
		})
	}
}
