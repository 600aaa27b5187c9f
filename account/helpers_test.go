package account_test

import (
	"testing"

	"github.com/authevents/authevents/password"
)

func passwordHasher(t *testing.T, p password.Params) *password.Hasher {
	t.Helper()
	h, err := password.NewHasher(p, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
