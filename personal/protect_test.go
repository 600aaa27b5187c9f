package personal

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/eventschema"
)

// TestProtectThenOpen: version 2 of an event carries no personal value in
// clear, validates against its schema, names its twin (and is named by
// it), and opens back to version 1's values; once the key is erased it
// opens as Erased.
func TestProtectThenOpen(t *testing.T) {
	t.Parallel()
	ctx, pool, ks := setup(t)
	user := uuid.New()
	key := createKey(t, ks, pool, user)
	v, err := eventschema.Load()
	if err != nil {
		t.Fatal(err)
	}
	v1, err := authevents.NewCloudEvent(authevents.EventSource{Source: "auth-service", ServiceVersion: "t", Environment: "t"},
		uuid.NewString(), authevents.EventUserLoggedIn, user.String(), time.Now(), authevents.UserLoggedIn{
			UserID: user.String(), Email: "ada@example.com", IP: "198.51.100.7", UserAgent: "Mozilla/5.0 (Ada)", Timestamp: authevents.Timestamp(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	v2, err := Protect(&v1, id, key)
	if err != nil {
		t.Fatal(err)
	}
	if v2.Type != "user.logged_in_v2" || v2.ID != id || v2.TwinID != v1.ID || v1.TwinID != id {
		t.Fatalf("v2 %s %s twin %s; v1 twin %s", v2.Type, v2.ID, v2.TwinID, v1.TwinID)
	}
	body, _ := json.Marshal(v2)
	for _, clear := range []string{"ada@example.com", "198.51.100.7", "Mozilla"} {
		if strings.Contains(string(body), clear) {
			t.Errorf("version 2 holds %q in clear: %s", clear, body)
		}
	}
	if err := v.Strict(body); err != nil {
		t.Errorf("version 2 breaks its contract: %v", err)
	}
	b1, _ := json.Marshal(v1)
	if err := v.Strict(b1); err != nil {
		t.Errorf("version 1 with its twinid breaks its contract: %v", err)
	}
	opened, erased, err := ks.Open(ctx, v2.Type, v2.ID, v2.Data)
	if err != nil || erased {
		t.Fatal(err, erased)
	}
	var got authevents.UserLoggedIn
	json.Unmarshal(opened, &got)
	if got.Email != "ada@example.com" || got.IP != "198.51.100.7" || got.UserAgent != "Mozilla/5.0 (Ada)" || got.UserID != user.String() {
		t.Errorf("opened %+v", got)
	}
	// Moved to another event, a field does not open.
	if _, _, err := ks.Open(ctx, v2.Type, uuid.NewString(), v2.Data); err == nil {
		t.Error("the fields opened under another event id")
	}
	erase(t, ks, pool, user)
	opened, erased, err = ks.Open(ctx, v2.Type, v2.ID, v2.Data)
	json.Unmarshal(opened, &got)
	if err != nil || !erased || got.Email != Erased || got.IP != Erased {
		t.Errorf("after the erasure: %+v, erased %v, %v", got, erased, err)
	}
}
