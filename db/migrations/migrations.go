// Package migrations embeds the goose SQL migrations of the authevents
// schema. They are applied through db/postgres, never by hand.
package migrations

import "embed"

// FS holds the numbered *.sql migrations.
//
//go:embed *.sql
var FS embed.FS
