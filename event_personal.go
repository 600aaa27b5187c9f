package authevents

import (
	"slices"
	"strings"
)

// Personal data in events (issue 19, docs/privacy.md): the properties of
// an event's data that name or locate a person. Version 1 of each type
// carries them in clear; version 2 (<type>_v2, data schema <type>/v2.json,
// the versioning rule of docs/events.md) carries each as a protected field
// (package personal: encrypted under the user's data key, so erasing the
// user makes every copy unreadable), beside keyOwner and, for ip and
// userAgent, a per-user pseudonym.

// personalFields lists, per event type, its personal data properties in
// the order of its schema; a type without any has no version 2.
var personalFields = map[string][]string{
	EventUserRegistered:             {"email", "name"},
	EventUserLoggedIn:               {"email", "ip", "userAgent"},
	EventUserLoginFailed:            {"email", "ip", "userAgent"},
	EventTokenReuseDetected:         {"ip", "userAgent"},
	EventEmailVerificationRequested: {"email", "name"},
	EventEmailVerified:              {"email"},
	EventRegistrationAttempted:      {"email", "ip", "userAgent"},
	EventPasswordResetRequested:     {"email", "ip", "userAgent"},
	EventPasswordChanged:            {"email", "ip", "userAgent"},
	EventEmailChangeRequested:       {"email", "newEmail", "ip", "userAgent"},
	EventEmailChanged:               {"oldEmail", "email"},
	EventUserDeleted:                {"email"},
}

// PersonalFields returns the personal data properties of eventType's
// version 1 data, or nil when it has none (its data names nobody but by
// the random user and session ids).
func PersonalFields(eventType string) []string {
	return slices.Clone(personalFields[eventType])
}

// pseudonymOf names the property of version 2 that carries the per-user
// pseudonym of a personal property, for those a consumer compares without
// reading (security: a new IP, a new device).
var pseudonymOf = map[string]string{"ip": "ipPseudonym", "userAgent": "userAgentPseudonym"}

// PseudonymField returns the version 2 property that carries the per-user
// pseudonym of the personal property field ("ip" → "ipPseudonym"), or "".
func PseudonymField(field string) string { return pseudonymOf[field] }

// versionSuffix ends the name of a type's version 2 (docs/events.md).
const versionSuffix = "_v2"

// ProtectedType returns the name of eventType's version 2, which carries
// its personal fields protected ("user.logged_in" → "user.logged_in_v2"),
// or "" when eventType has no personal fields.
func ProtectedType(eventType string) string {
	if _, ok := personalFields[eventType]; !ok {
		return ""
	}
	return eventType + versionSuffix
}

// ProtectedEventTypes returns the version 2 type of every event type that
// has personal fields, in the order of EventTypes.
func ProtectedEventTypes() []string {
	var out []string
	for _, t := range EventTypes() {
		if p := ProtectedType(t); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// BaseType splits a type name into the type and its version:
// "user.logged_in_v2" → ("user.logged_in", 2), "user.logged_in" →
// ("user.logged_in", 1). A name that is neither is returned as it is,
// version 1.
func BaseType(t string) (base string, version int) {
	if b, ok := strings.CutSuffix(t, versionSuffix); ok && ProtectedType(b) == t {
		return b, 2
	}
	return t, 1
}
