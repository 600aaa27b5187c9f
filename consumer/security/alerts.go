package security

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents/db/postgres"
)

// Alert is one stored alert, as authctl prints it. Details keys are
// camelCase, like every JSON the service writes.
type Alert struct {
	ID        int64           `json:"id"`
	EventID   uuid.UUID       `json:"eventId"`
	Rule      string          `json:"rule"`
	Severity  string          `json:"severity"`
	UserID    *uuid.UUID      `json:"userId"`
	Email     string          `json:"email"`
	IP        string          `json:"ip"`
	Details   json.RawMessage `json:"details"`
	CreatedAt time.Time       `json:"createdAt"`
}

// List returns alerts since a time, newest first.
func List(ctx context.Context, q postgres.Querier, since time.Time, limit int) ([]Alert, error) {
	rows, err := q.Query(ctx, `SELECT id, event_id, rule, severity, user_id, email, ip, details, created_at
		FROM security_alerts WHERE created_at >= $1 ORDER BY id DESC LIMIT $2`, since, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alert, error) {
		var a Alert
		var det []byte
		err := r.Scan(&a.ID, &a.EventID, &a.Rule, &a.Severity, &a.UserID, &a.Email, &a.IP, &det, &a.CreatedAt)
		a.Details = det
		if err == nil && a.Rule == RuleNewUserAgent {
			a.Details, err = withUserAgentAlias(det)
		}
		return a, err
	})
}

// withUserAgentAlias gives new_user_agent details both keys: userAgent,
// written since the details became camelCase, and user_agent, written
// before and read by existing scripts (authctl security alerts --json is a
// contract). Alerts stored either way then list alike. user_agent is
// deprecated.
func withUserAgentAlias(details []byte) (json.RawMessage, error) {
	var m map[string]any
	if err := json.Unmarshal(details, &m); err != nil {
		return nil, fmt.Errorf("new_user_agent details: %w", err)
	}
	if _, ok := m["userAgent"]; !ok {
		m["userAgent"] = m["user_agent"]
	}
	if _, ok := m["user_agent"]; !ok {
		m["user_agent"] = m["userAgent"]
	}
	return json.Marshal(m)
}
