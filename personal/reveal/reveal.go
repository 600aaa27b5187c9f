// Package reveal is the key-access service of protected event fields for
// consumers outside this repository: they send the protected fields they
// received and get the clear values they are allowed to read, so that
// neither the KEK nor any data key leaves this service, each reader is
// named, and an erasure takes effect for them too (within the service's
// cache TTL). Contract: docs/privacy.md, "Readers outside this repository".
//
//	POST /v1/reveal
//	Authorization: Bearer <the client's token>
//	{"items":[{"userId":"…","eventId":"…","field":"email","value":"pd1.…"}]}
//
// answers 200 with one result per item, in order:
//
//	{"items":[{"value":"ada@example.com"},{"erased":true},{"error":"forbidden"}]}
//
// where error is "forbidden" (the client may not read that field),
// "unreadable" (not a protected field of that user, event and field),
// "no_key", or "unavailable" (the key store failed: retry later). 401 without a known token, 400 on a malformed request or more
// than MaxItems items.
package reveal

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/authevents/authevents/personal"
)

// MaxItems bounds one request.
const MaxItems = 500

// Client is one reader outside the repository: its name (logged with each
// request), the SHA-256 of its bearer token (the token itself is not
// kept), and the fields it may read.
type Client struct {
	Name        string
	TokenSHA256 [32]byte
	Fields      []personal.Field
}

// Decrypter is what the handler needs of personal.Keys.
type Decrypter interface {
	Decrypt(ctx context.Context, user uuid.UUID, eventID string, f personal.Field, protected string) (string, error)
}

// Handler serves POST /v1/reveal.
type Handler struct {
	keys    Decrypter
	clients map[[32]byte]Client
	log     *slog.Logger
}

// NewHandler returns the handler for clients.
func NewHandler(keys Decrypter, clients []Client, log *slog.Logger) *Handler {
	h := &Handler{keys: keys, clients: map[[32]byte]Client{}, log: log.With("component", "reveal")}
	for _, c := range clients {
		h.clients[c.TokenSHA256] = c
	}
	return h
}

// Item is one protected field to reveal.
type Item struct {
	UserID  string         `json:"userId"`
	EventID string         `json:"eventId"`
	Field   personal.Field `json:"field"`
	Value   string         `json:"value"`
}

// Result is the answer for one Item.
type Result struct {
	Value  *string `json:"value,omitempty"`
	Erased bool    `json:"erased,omitempty"`
	Error  string  `json:"error,omitempty"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	client, known := h.clients[sha256.Sum256([]byte(token))]
	if !ok || !known {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	var req struct {
		Items []Item `json:"items"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil || len(req.Items) > MaxItems {
		http.Error(w, "want {items:[…]} of at most 500 items", http.StatusBadRequest)
		return
	}
	res := make([]Result, len(req.Items))
	erased := 0
	for i, it := range req.Items {
		res[i] = h.reveal(r.Context(), client, it)
		if res[i].Erased {
			erased++
		}
	}
	// Who read how much; never which values.
	h.log.InfoContext(r.Context(), "revealed", "client", client.Name, "items", len(req.Items), "erased", erased)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Items []Result `json:"items"`
	}{res})
}

func (h *Handler) reveal(ctx context.Context, c Client, it Item) Result {
	if !slices.Contains(c.Fields, it.Field) {
		return Result{Error: "forbidden"}
	}
	user, err := uuid.Parse(it.UserID)
	if err != nil {
		return Result{Error: "unreadable"}
	}
	v, err := h.keys.Decrypt(ctx, user, it.EventID, it.Field, it.Value)
	switch {
	case err == nil:
		return Result{Value: &v}
	case errors.Is(err, personal.ErrErased):
		return Result{Erased: true}
	case errors.Is(err, personal.ErrNoKey):
		return Result{Error: "no_key"}
	case errors.Is(err, personal.ErrUnreadable):
		return Result{Error: "unreadable"}
	}
	h.log.ErrorContext(ctx, "reveal", "client", c.Name, "err", err)
	return Result{Error: "unavailable"}
}
