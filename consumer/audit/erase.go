package audit

import (
	"encoding/json"
	"fmt"

	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/personal"
)

// entry is what an audit row holds that erasure changes.
type entry struct {
	ip, userAgent string
	envelope      []byte
}

// personalFields are the keys of an event's data that hold personal
// values (docs/privacy.md); audit_erase_user (migration 00016) erases the
// same ones.
var personalFields = []string{"email", "name", "ip", "userAgent", "newEmail", "oldEmail"}

// erased returns e as audit_erase_user leaves a row: each personal value
// of the envelope's data (a string, not empty) replaced by personal.Erased,
// the ip and user_agent columns empty, everything else as it was.
func erased(e entry) (entry, error) {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(e.envelope, &env); err != nil {
		return e, consumer.Permanent(fmt.Errorf("envelope: %w", err))
	}
	var data map[string]json.RawMessage
	if json.Unmarshal(env["data"], &data) == nil && data != nil {
		mark, _ := json.Marshal(personal.Erased)
		for _, k := range personalFields {
			var s string
			if json.Unmarshal(data[k], &s) == nil && s != "" {
				data[k] = mark
			}
		}
		b, err := json.Marshal(data)
		if err != nil {
			return e, err
		}
		env["data"] = b
	}
	b, err := json.Marshal(env)
	if err != nil {
		return e, err
	}
	return entry{envelope: b}, nil
}
