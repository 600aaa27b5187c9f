package httpe2e_test

import (
	"testing"

	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/internal/openapitest"
)

// TestAPIRefusesWhatTheSpecRefuses is the other half of api's
// TestSpecRefusesWhatTheAPIRefuses: each body of openapitest.Refused is
// answered 400 validation_failed by the real service, naming its field,
// and what the document accepts at its edges (padding the API trims,
// non-ASCII addresses and names) is accepted.
func TestAPIRefusesWhatTheSpecRefuses(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	for _, tc := range openapitest.Refused() {
		t.Run(tc.Name, func(t *testing.T) {
			wantError(t, f.do(t, "POST", tc.Path, tc.Body), 400, api.CodeValidation, tc.Field)
		})
	}
	r := f.do(t, "POST", "/auth/register", map[string]string{"email": " \tÄda@Exämple.com ", "password": goodPassword, "name": " \u00a0Ada\u200b Lovelace\t"})
	if r.status != 201 {
		t.Errorf("a padded non-ASCII registration: %d %s", r.status, r.body)
	}
}
