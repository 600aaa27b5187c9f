package main

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/personal"
	"github.com/authevents/authevents/personal/reveal"
)

// revealClients parses REVEAL_CLIENTS: the readers of protected event
// fields outside this repository, "name:sha256-of-token-hex:field+field",
// separated by commas, e.g. "crm:9f86…08:email+name,fraud:2c26…ae:ip".
func revealClients(spec []string) ([]reveal.Client, error) {
	var out []reveal.Client
	known := map[string]bool{}
	for _, t := range authevents.EventTypes() {
		for _, f := range authevents.PersonalFields(t) {
			known[f] = true
		}
	}
	seen := map[string]bool{}
	for _, entry := range spec {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		parts := strings.Split(entry, ":")
		if len(parts) != 3 || parts[0] == "" {
			return nil, fmt.Errorf("REVEAL_CLIENTS: %q is not name:sha256-hex:field+field", entry)
		}
		if seen[parts[0]] {
			return nil, fmt.Errorf("REVEAL_CLIENTS: client %q twice", parts[0])
		}
		seen[parts[0]] = true
		sum, err := hex.DecodeString(parts[1])
		if err != nil || len(sum) != 32 {
			return nil, fmt.Errorf("REVEAL_CLIENTS: client %q: the token's SHA-256 must be 64 hex digits", parts[0])
		}
		if seen["token "+parts[1]] {
			return nil, fmt.Errorf("REVEAL_CLIENTS: client %q has another client's token", parts[0])
		}
		seen["token "+parts[1]] = true
		c := reveal.Client{Name: parts[0]}
		copy(c.TokenSHA256[:], sum)
		for _, f := range strings.Split(parts[2], "+") {
			if !known[f] {
				return nil, fmt.Errorf("REVEAL_CLIENTS: client %q: %q is not a personal field", parts[0], f)
			}
			c.Fields = append(c.Fields, personal.Field(f))
		}
		out = append(out, c)
	}
	return out, nil
}

// revealHandler serves POST /v1/reveal on REVEAL_ADDR, an internal
// listener: the key-access service of docs/privacy.md.
// It shares the account use cases' keys (and cache): a deletion by this
// api reads as erased here at once, by another process within
// personal.Options.CacheTTL.
func revealHandler(keys *personal.Keys, clients []reveal.Client, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/reveal", reveal.NewHandler(keys, clients, log))
	return mux
}
