package dlq

import (
	"encoding/json"
	"strings"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
)

// matchKeyColumns maps each row column that becomes a match key (user.email,
// user.ttp, …) to that key's name in events.MatchKeyNames, from the columns table:
// the same names the worker's tiktok_worker_match_key_events_total uses.
func matchKeyColumns() map[string]string {
	keys := map[string]bool{}
	for _, k := range events.MatchKeyNames() {
		keys[k] = true
	}
	cols := map[string]string{}
	for _, c := range events.Columns() {
		if k, ok := strings.CutPrefix(c.Field, "user."); ok && keys[k] {
			cols[c.Name] = k
		}
	}
	return cols
}

// countMatchKeys adds to into one for each match key the dead-lettered row carries
// (a non-empty value in a column that becomes that key). A body that is not one JSON
// object (a malformed message) carries none. Values are only tested for presence,
// never kept.
func countMatchKeys(body []byte, cols map[string]string, into map[string]int) {
	var row map[string]json.RawMessage
	if json.Unmarshal(body, &row) != nil {
		return
	}
	for col, v := range row {
		k, ok := cols[strings.ToLower(strings.TrimSpace(col))]
		if !ok {
			continue
		}
		switch strings.TrimSpace(string(v)) {
		case "", "null", `""`:
			continue
		}
		into[k]++
	}
}
