package config

import (
	"strings"
	"unicode/utf8"
)

// FieldError is one problem with one key. Load and Validate return an errors.Join of
// them, so a user sees every problem at once; errors.As finds the first.
//
// Its message never contains a secret: secrets are not read from the file, and the
// values of secret-bearing settings are never echoed.
type FieldError struct {
	Key         string // full key path: "delivery.batch_size", "destinations[0].window"
	Destination string // the destination's name when Key is inside one ("" otherwise or when unnamed)
	Source      string // where the value came from: "config.yaml:12", "line 12", "env NATS_URL", or ""
	Msg         string // what is wrong and what to do
}

// Error reads "config.yaml:21: destinations[0] (stores): window: 700h is longer than …"
// or "config.yaml:7: delivery.batch_size: …".
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Source != "" {
		b.WriteString(e.Source)
		b.WriteString(": ")
	}
	switch idx, rest, ok := splitDestination(e.Key); {
	case ok:
		b.WriteString(idx)
		if e.Destination != "" {
			b.WriteString(" (")
			b.WriteString(e.Destination)
			b.WriteString(")")
		}
		if rest != "" {
			b.WriteString(": ")
			b.WriteString(rest)
		}
	case e.Key == "":
		b.WriteString("config")
	default:
		b.WriteString(e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// splitDestination splits "destinations[0].window" into "destinations[0]" and "window".
func splitDestination(key string) (idx, rest string, ok bool) {
	if !strings.HasPrefix(key, "destinations[") {
		return "", "", false
	}
	end := strings.IndexByte(key, ']')
	if end < 0 {
		return "", "", false
	}
	return key[:end+1], strings.TrimPrefix(key[end+1:], "."), true
}

// clip shortens a value echoed in an error so that a pasted blob does not flood it.
func clip(s string) string {
	const n = 40
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
