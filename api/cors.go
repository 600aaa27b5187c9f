package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/rs/cors"
)

// CORS answers browsers (rs/cors, the maintained net/http implementation
// of the Fetch standard's CORS protocol): preflights from the allowed
// origins get a grant, and their requests may read the headers clients
// need. Credentials (cookies, HTTP auth) are never allowed, for "*" or
// any origin: the API takes bearer tokens, which need none.
func corsMiddleware(origins []string) gin.HandlerFunc {
	c := cors.New(cors.Options{
		AllowedOrigins:       origins,
		AllowedMethods:       []string{http.MethodGet, http.MethodPost, http.MethodDelete},
		AllowedHeaders:       []string{"Authorization", "Content-Type", "X-Request-ID", "X-Device-Token"},
		ExposedHeaders:       []string{"Retry-After", "WWW-Authenticate", "X-Request-ID"},
		AllowCredentials:     false,
		MaxAge:               600,
		OptionsSuccessStatus: http.StatusNoContent,
	})
	return func(ctx *gin.Context) {
		c.HandlerFunc(ctx.Writer, ctx.Request)
		if ctx.Request.Method == http.MethodOptions && ctx.GetHeader("Access-Control-Request-Method") != "" {
			// A preflight is answered here, whether or not it was granted:
			// the browser enforces the answer, no handler runs.
			ctx.AbortWithStatus(http.StatusNoContent)
		}
	}
}
