// Package httpe2e holds the thin end-to-end layer of the HTTP API: the
// real router (api.New) over a real account.Service, PostgreSQL and Redis.
// It proves the wiring, one flow per endpoint, the mapping of a few domain
// errors as the services really produce them, the middleware (request id,
// client IP, metrics, timeout, in-flight gauge) and FuzzEndpoints. The
// rules themselves are specified in package account's tests, the
// transport's behaviour with a fake in package api's. It has no code
// outside its tests.
package httpe2e
