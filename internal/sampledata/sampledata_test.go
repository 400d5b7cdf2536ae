package sampledata

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestGenerateCountsAndDeterminism(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	m := Mix{Good: 50, LineItems: 4, Duplicates: 5, Invalid: 6, Old: 3, Future: 2, Malformed: 2, Poison: true}
	a := Generate(m, now, 1)
	b := Generate(m, now, 1)
	if len(a) != len(b) {
		t.Fatalf("not deterministic: %d vs %d messages", len(a), len(b))
	}
	rows, malformed, poison := 0, 0, 0
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("message %d differs between runs with the same seed", i)
		}
		var one map[string]any
		var many []map[string]any
		switch {
		case json.Unmarshal(a[i], &one) == nil:
			rows++
			if one["event_id"] == PoisonEventID {
				poison++
			}
		case json.Unmarshal(a[i], &many) == nil:
			rows += len(many)
		default:
			malformed++
			rows++
		}
	}
	if rows != m.Rows() {
		t.Errorf("rows = %d, Mix.Rows() = %d", rows, m.Rows())
	}
	if malformed != m.Malformed || poison != 1 {
		t.Errorf("malformed = %d (want %d), poison = %d (want 1)", malformed, m.Malformed, poison)
	}
}
