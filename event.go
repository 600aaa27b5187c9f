package authevents

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Event types, as they appear in the CloudEvents "type" attribute.
const (
	EventUserRegistered     = "user.registered"
	EventUserLoggedIn       = "user.logged_in"
	EventUserLoginFailed    = "user.login_failed"
	EventUserTokenRefreshed = "user.token_refreshed"
	EventUserLoggedOut      = "user.logged_out"
	EventTokenReuseDetected = "user.token_reuse_detected"
)

// EventTypes returns every event type, in the order above.
func EventTypes() []string {
	return []string{EventUserRegistered, EventUserLoggedIn, EventUserLoginFailed,
		EventUserTokenRefreshed, EventUserLoggedOut, EventTokenReuseDetected,
		EventEmailVerificationRequested, EventEmailVerified, EventRegistrationAttempted,
		EventPasswordResetRequested, EventPasswordChanged, EventEmailChangeRequested, EventEmailChanged,
		EventUserDisabled, EventUserEnabled, EventUserDeleted}
}

// DataSchemaBase is the URI prefix of the JSON Schemas of events, one per
// type and version (<type>/v<N>.json, and envelope/v1.json). A schema's
// $id is its URI here. The URI names the contract, not a file of the
// repository: its path is DataSchemaPath, where the auth API serves the
// schema.
const DataSchemaBase = "https://authevents.dev" + DataSchemaPath

// DataSchemaPath is the path part of DataSchemaBase, the API route that
// serves the schemas (GET /schemas/events/<type>/v<N>.json).
const DataSchemaPath = "/schemas/events/"

// DataSchema returns the URI of the JSON Schema that the data of events of
// eventType follows (the CloudEvents dataschema attribute), or "" for a
// type this build does not emit. Versioning (docs/events.md, "Versioning rule"):
// an additive change keeps the version; any other change is a new type,
// published beside the old one for the documented period.
func DataSchema(eventType string) string {
	if base, v := BaseType(eventType); v == 2 {
		return DataSchemaBase + base + "/v2.json"
	}
	for _, t := range EventTypes() {
		if t == eventType {
			return DataSchemaBase + eventType + "/v1.json"
		}
	}
	return ""
}

// SubjectPrefix is the NATS subject namespace of auth events; the stream
// auth-events binds SubjectPrefix + "*".
const SubjectPrefix = "auth."

// Subject returns the NATS subject an event type is published on,
// e.g. "auth.user.registered".
func Subject(eventType string) string { return SubjectPrefix + eventType }

// TypeOfSubject is the inverse of Subject: the event type a subject
// carries ("auth.user.registered" → "user.registered"). A subject outside
// SubjectPrefix is returned as it is, so that a label made from it still
// names what was seen. It is the relay's metric label function and the
// dashboard's and consumers' one mapping from subject to type.
func TypeOfSubject(subject string) string {
	if t, ok := strings.CutPrefix(subject, SubjectPrefix); ok {
		return t
	}
	return subject
}

// IsEventType reports whether t is one of EventTypes.
func IsEventType(t string) bool { return slices.Contains(EventTypes(), t) }

// Login failure reasons carried in UserLoginFailed.Reason.
const (
	ReasonUnknownEmail    = "unknown_email"
	ReasonInvalidPassword = "invalid_password"
	ReasonRateLimited     = "rate_limited"
)

// Timestamp marshals as ISO 8601 UTC with milliseconds
// ("2024-01-01T12:00:00.000Z"), the format every event uses.
type Timestamp time.Time

// TimestampLayout is the layout Timestamp marshals with.
const TimestampLayout = "2006-01-02T15:04:05.000Z"

// MarshalJSON implements json.Marshaler.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format(TimestampLayout) + `"`), nil
}

// UnmarshalJSON implements json.Unmarshaler; it accepts any RFC 3339 time.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	*t = Timestamp(v)
	return nil
}

// UserRegistered is the data of user.registered.
type UserRegistered struct {
	UserID    string    `json:"userId"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Timestamp Timestamp `json:"timestamp"`
}

// UserLoggedIn is the data of user.logged_in.
type UserLoggedIn struct {
	UserID    string    `json:"userId"`
	Email     string    `json:"email"`
	Timestamp Timestamp `json:"timestamp"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"userAgent"`
}

// UserLoginFailed is the data of user.login_failed. UserID is empty when
// the email matches no account.
type UserLoginFailed struct {
	Email     string    `json:"email"`
	UserID    string    `json:"userId,omitempty"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"userAgent"`
	Reason    string    `json:"reason"`
	Timestamp Timestamp `json:"timestamp"`
}

// CloudEvent is a CloudEvents 1.0 structured-mode JSON envelope, the body of
// every message on the auth-events stream.
type CloudEvent struct {
	SpecVersion     string `json:"specversion"`
	ID              string `json:"id"`
	Source          string `json:"source"`
	Type            string `json:"type"`
	Time            string `json:"time"`
	Subject         string `json:"subject,omitempty"`
	DataContentType string `json:"datacontenttype"`
	DataSchema      string `json:"dataschema,omitempty"`
	ServiceVersion  string `json:"serviceversion"`
	Environment     string `json:"environment"`
	// TwinID names the other version of the same change (the twinid
	// extension), when the type is published in two versions.
	TwinID string          `json:"twinid,omitempty"`
	Data   json.RawMessage `json:"data"`
}

// EventSource is what every CloudEvent of one deployment carries besides
// its data: where it comes from, which build wrote it and where it runs.
type EventSource struct {
	Source         string // the CloudEvents source, e.g. "auth-service"
	ServiceVersion string
	Environment    string
}

// NewCloudEvent builds the envelope of one event: data encoded as JSON
// inside a CloudEvents 1.0 structured envelope with the given id, type,
// subject (the user id, or "" when there is none) and time, and the
// dataschema of its type.
func NewCloudEvent(src EventSource, id, eventType, subject string, at time.Time, data any) (CloudEvent, error) {
	body, err := json.Marshal(data)
	if err != nil {
		return CloudEvent{}, fmt.Errorf("encode %s data: %w", eventType, err)
	}
	return CloudEvent{
		SpecVersion: "1.0", ID: id, Source: src.Source, Type: eventType,
		Time: at.UTC().Format(TimestampLayout), Subject: subject,
		DataContentType: "application/json", DataSchema: DataSchema(eventType), ServiceVersion: src.ServiceVersion,
		Environment: src.Environment, Data: body,
	}, nil
}

// ContentTypeCloudEvents is the media type of a structured CloudEvent.
const ContentTypeCloudEvents = "application/cloudevents+json"

// UserTokenRefreshed is the data of user.token_refreshed.
type UserTokenRefreshed struct {
	UserID    string    `json:"userId"`
	SessionID string    `json:"sessionId"`
	Timestamp Timestamp `json:"timestamp"`
}

// UserLoggedOut is the data of user.logged_out, one per session ended.
type UserLoggedOut struct {
	UserID    string    `json:"userId"`
	SessionID string    `json:"sessionId"`
	Timestamp Timestamp `json:"timestamp"`
}

// TokenReuseDetected is the data of user.token_reuse_detected: a rotated
// refresh token was presented again, and the whole session was revoked.
type TokenReuseDetected struct {
	UserID    string    `json:"userId"`
	SessionID string    `json:"sessionId"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"userAgent"`
	Timestamp Timestamp `json:"timestamp"`
}
