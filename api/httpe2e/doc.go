// Package httpe2e holds the thin end-to-end layer of the HTTP API: the
// real router (api.New) over a real account.Service, PostgreSQL and Redis.
// It proves the wiring, one flow per endpoint, the mapping of a few domain
// errors as the services really produce them, what only the real services
// show (the client IP in events, committed events counted, a timed-out
// transaction rolled back, every field named by validation, each body
// openapi.yaml refuses answered 400) and FuzzEndpoints. The rules
// themselves are specified in package account's tests; the transport's
// behaviour (request ids, error mapping, decoding, panics, the in-flight
// gauge, request counters) with a fake in package api's. It has no code
// outside its tests.
package httpe2e
