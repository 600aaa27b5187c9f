package chaos

import (
	"fmt"

	"github.com/authevents/authevents"
)

// Events is which versions of the events a run publishes, and so which
// one the consumers read (docs/privacy.md, Events v2).
type Events string

// The modes of a run. The zero value reads as EventsV1.
const (
	// EventsV1: no PERSONAL_DATA_KEY; version 1 alone.
	EventsV1 Events = "v1"
	// EventsDual: PERSONAL_DATA_KEY and EVENTS_V1=true, the dual period:
	// a change with personal fields is published in both versions, each
	// naming the other (twinid); the consumers read version 2 and ack its
	// twin without effect.
	EventsDual Events = "v1+v2"
	// EventsV2: PERSONAL_DATA_KEY and EVENTS_V1=false: version 2 alone
	// for the types with personal fields.
	EventsV2 Events = "v2"
)

// keyed reports whether the consumers hold the key, and so read version 2.
func (m Events) keyed() bool { return m == EventsDual || m == EventsV2 }

// changes returns the events the consumers act on, once each, in stream
// order, under their base type: with the key a version 2 event (its
// id, type user.logged_in for user.logged_in_v2) and every version 1
// event that names no twin; a version 1 event with twinid is the same
// change as its twin and has no effect of its own. Without the key,
// version 2 events are acked unread.
func changes(e Evidence) []StreamMsg {
	var out []StreamMsg
	for _, m := range distinct(e.Stream) {
		base, version := authevents.BaseType(m.Type)
		switch {
		case e.Profile.Events.keyed() && version == 1 && m.TwinID != "":
			continue
		case !e.Profile.Events.keyed() && version == 2:
			continue
		}
		m.Type = base
		out = append(out, m)
	}
	return out
}

// checkVersions: the stream holds the versions the mode publishes: in the
// dual period each change with personal fields in both versions, naming
// each other; with version 2 alone no version 1 of such a type; without
// the key no version 2.
func checkVersions(v *Verdict, e Evidence) {
	mode := e.Profile.Events
	if mode == "" {
		mode = EventsV1
	}
	events := distinct(e.Stream)
	byID := map[string]StreamMsg{}
	for _, m := range events {
		byID[m.ID] = m
	}
	bad := 0
	var examples []string
	for _, m := range events {
		base, version := authevents.BaseType(m.Type)
		personal := authevents.ProtectedType(base) != ""
		var ok bool
		switch {
		case mode == EventsV1:
			ok = version == 1
		case mode == EventsV2:
			ok = version == 2 || !personal
		case !personal:
			ok = true
		default: // the dual period: the twin is there and names it back
			twin, found := byID[m.TwinID]
			tb, tv := authevents.BaseType(twin.Type)
			ok = found && twin.TwinID == m.ID && tb == base && tv != version
		}
		if !ok {
			bad++
			examples = append(examples, fmt.Sprintf("%s %s (twin %q)", m.Type, m.ID, m.TwinID))
		}
	}
	v.add("events without their twin, or of a version not published", bad == 0, "0", "%d (events %s)", bad, mode)
	if bad > 0 {
		v.Detail["versionViolations"] = head(examples, 20)
	}
}
