package dlq

import (
	"bytes"
	"encoding/json"
	"strings"
)

// EventIDOf is the event_id of a dead letter's body: the row's "event_id" as text (a
// JSON string as it is, a number as written), or "" when the body is not one JSON
// object or has none. An event id is the advertiser's own reference, never PII, so
// tools may show it.
func EventIDOf(body []byte) string {
	if !isObject(body) {
		return ""
	}
	var row struct {
		EventID json.RawMessage `json:"event_id"`
	}
	if json.Unmarshal(body, &row) != nil || len(row.EventID) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(row.EventID, &s) == nil {
		return strings.TrimSpace(s)
	}
	if row.EventID[0] == '-' || row.EventID[0] >= '0' && row.EventID[0] <= '9' {
		return string(row.EventID)
	}
	return ""
}

// isObject reports whether body looks like one JSON object.
func isObject(body []byte) bool {
	b := bytes.TrimSpace(body)
	return len(b) > 1 && b[0] == '{' && b[len(b)-1] == '}'
}
