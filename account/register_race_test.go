package account_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
)

// TestConcurrentRegistrationsTellNotFreeFromTaken (review finding, fixed): two registrations of
// the same address with the same password sent at once, then a login with
// that password. A taken address answers 403 every time (both see the
// owner and keep the password alike). A free address: the loser of the
// insert race goes through registrationAttempted(owner, "") which sets the
// winner's password unusable and keeps no password: the login answers 401.
func TestConcurrentRegistrationsTellNotFreeFromTaken(t *testing.T) {
	ctx := context.Background()
	l := setupLifecycle(t, true)
	const pw = "the prober's passphrase here"
	probe := func(email string) error {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if _, err := l.Service.Register(ctx, account.RegisterInput{Email: email, Password: pw, Name: "Prober", Client: client}); err != nil {
					t.Errorf("register: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		_, err := l.Service.Login(ctx, account.LoginInput{Email: email, Password: pw, Client: client})
		return err
	}
	for i := 0; i < 10; i++ {
		owned := fmt.Sprintf("owned%d@example.com", i)
		l.registerVerified(t, owned)
		if err := probe(owned); !errors.Is(err, authevents.ErrEmailNotVerified) {
			t.Errorf("taken %s: %v", owned, err)
		}
	}
	got401 := 0
	for i := 0; i < 10; i++ {
		free := fmt.Sprintf("free%d@example.com", i)
		if err := probe(free); errors.Is(err, authevents.ErrInvalidCredentials) {
			got401++
		}
	}
	if got401 > 0 {
		t.Fatalf("free addresses answered 401 in %d/10 probes after two concurrent registrations; taken ones always 403: the address's state is told", got401)
	}
}
