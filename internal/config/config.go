// Package config loads a binary's Config struct from the environment
// (caarlos0/env tags) and turns parse failures into one-line messages that
// name the environment variable, not the Go field.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"strings"

	"github.com/caarlos0/env/v11"
)

// Environ returns the process environment as a map.
func Environ() map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// Load parses T from environ.
func Load[T any](environ map[string]string) (T, error) {
	c, err := env.ParseAsWithOptions[T](env.Options{Environment: environ})
	if err == nil {
		return c, nil
	}
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return c, err
	}
	var msgs []string
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			msgs = append(msgs, fmt.Sprintf("%s: %v", envName[T](pe.Name), pe.Err))
			continue
		}
		msgs = append(msgs, e.Error())
	}
	return c, errors.New(strings.Join(msgs, "; "))
}

// envName returns the env tag of T's field named field.
func envName[T any](field string) string {
	f, ok := reflect.TypeFor[T]().FieldByName(field)
	if !ok {
		return field
	}
	name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
	return name
}

// RedactURL hides the password of a connection URL, in the user info and
// in a password query parameter alike.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
