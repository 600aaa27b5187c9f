package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/db/redistest"
	"github.com/authevents/authevents/personal"
)

var revealRE = regexp.MustCompile(`"reveal_url":"(http://[^"]+)"`)

// TestRevealServesReadersOutsideTheRepository: with REVEAL_ADDR the api
// serves the key-access service on a listener of its own: a named client
// gets the clear values of the protected fields it may read from a
// version 2 event, "forbidden" for the others, 401 without its token, and
// "erased" once the user is deleted. Its configuration is checked at
// start.
func TestRevealServesReadersOutsideTheRepository(t *testing.T) {
	t.Parallel()
	pool, dbURL := pgtest.NewWithURL(t)
	_, prefix := redistest.New(t)
	const tok = "crm-reader-token-0123456789"
	sum := sha256.Sum256([]byte(tok))
	env := baseEnv(t, dbURL)
	env["REDIS_URL"], env["REDIS_KEY_PREFIX"] = redistest.URL(), prefix
	env["EMAIL_VERIFICATION"] = "optional"
	env["PERSONAL_DATA_KEY"] = personal.GenerateKEK()
	env["REVEAL_ADDR"] = "127.0.0.1:0"
	env["REVEAL_CLIENTS"] = "crm:" + hex.EncodeToString(sum[:]) + ":email+name"
	apiURL, _, logs, stop := start(t, env)
	defer stop()
	m := revealRE.FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no reveal_url in the start-up log:\n%s", logs)
	}
	revealURL := m[1] + "/v1/reveal"

	res, err := http.Post(apiURL+"/auth/register", "application/json", strings.NewReader(`{"email":"reveal@example.com","password":"correct horse battery staple","name":"Rita Reveal"}`))
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("register: %v %v", err, res.Status)
	}
	var reg struct {
		AccessToken string `json:"accessToken"`
	}
	json.NewDecoder(res.Body).Decode(&reg)
	res.Body.Close()
	var payload string
	if err := pool.QueryRow(context.Background(), `SELECT payload FROM outbox WHERE subject = 'auth.user.registered_v2'`).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	var ev struct {
		ID   string            `json:"id"`
		Data map[string]string `json:"data"`
	}
	json.Unmarshal([]byte(payload), &ev)
	ask := func(token string) (int, []map[string]any) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"items": []map[string]string{
			{"userId": ev.Data["keyOwner"], "eventId": ev.ID, "field": "email", "value": ev.Data["email"]},
			{"userId": ev.Data["keyOwner"], "eventId": ev.ID, "field": "name", "value": ev.Data["name"]},
			{"userId": ev.Data["keyOwner"], "eventId": ev.ID, "field": "ip", "value": ev.Data["email"]},
		}})
		req, _ := http.NewRequest("POST", revealURL, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct {
			Items []map[string]any `json:"items"`
		}
		json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out.Items
	}
	if code, _ := ask("not the token"); code != 401 {
		t.Errorf("an unknown token: %d, want 401", code)
	}
	code, items := ask(tok)
	if code != 200 || len(items) != 3 || items[0]["value"] != "reveal@example.com" || items[1]["value"] != "Rita Reveal" || items[2]["error"] != "forbidden" {
		t.Fatalf("reveal: %d %v", code, items)
	}
	req, _ := http.NewRequest("DELETE", apiURL+"/auth/account", strings.NewReader(`{"password":"correct horse battery staple"}`))
	req.Header.Set("Authorization", "Bearer "+reg.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 204 {
		t.Fatalf("delete: %v %v", err, res.Status)
	}
	// The deletion went through this api: its key is gone here at once.
	if _, items := ask(tok); len(items) != 3 || items[0]["erased"] != true || items[0]["value"] != nil || items[1]["erased"] != true {
		t.Errorf("after the deletion: %v, want erased", items)
	}
}

// TestRevealConfigIsChecked: a malformed client list, a listener without
// a key or without clients, are refused at start.
func TestRevealConfigIsChecked(t *testing.T) {
	t.Parallel()
	hexSum := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"REVEAL_CLIENTS": "crm:" + hexSum}, "name:sha256-hex:field+field"},
		{map[string]string{"REVEAL_CLIENTS": "crm:abcd:email"}, "64 hex digits"},
		{map[string]string{"REVEAL_CLIENTS": "crm:" + hexSum + ":password"}, "not a personal field"},
		{map[string]string{"REVEAL_CLIENTS": "crm:" + hexSum + ":email,crm:" + hexSum + ":ip"}, "twice"},
		{map[string]string{"REVEAL_CLIENTS": "crm:" + hexSum + ":email,fraud:" + hexSum + ":ip"}, "another client's token"},
		{map[string]string{"REVEAL_ADDR": "127.0.0.1:0", "REVEAL_CLIENTS": "crm:" + hexSum + ":email"}, "REVEAL_ADDR needs PERSONAL_DATA_KEY"},
		{map[string]string{"REVEAL_ADDR": "127.0.0.1:0", "PERSONAL_DATA_KEY": personal.GenerateKEK()}, "REVEAL_ADDR needs REVEAL_CLIENTS"},
	} {
		env := map[string]string{"EMAIL_VERIFICATION": "optional"}
		for k, v := range tc.env {
			env[k] = v
		}
		if _, err := loadConfig(env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error naming %q", tc.env, err, tc.want)
		}
	}
}
