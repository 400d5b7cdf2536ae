package worker

import (
	"testing"
	"time"
)

func TestStateTransitions(t *testing.T) {
	for _, tc := range []struct {
		from    State
		on      trigger
		to      State
		changed bool
	}{
		{Starting, started, Running, true},
		{Starting, checkFailed, Paused, true},
		{Starting, gaveUp, Paused, true},
		{Starting, retryLong, Starting, false},
		{Starting, drain, Draining, true},
		{Running, retryLong, Retrying, true},
		{Running, gaveUp, Paused, true},
		{Running, answered, Running, false},
		{Running, resumed, Running, false},
		{Running, drain, Draining, true},
		{Retrying, answered, Running, true},
		{Retrying, resumed, Running, true},
		{Retrying, retryLong, Retrying, false},
		{Retrying, gaveUp, Paused, true},
		{Retrying, drain, Draining, true},
		{Paused, resumed, Running, true},
		{Paused, started, Running, true},
		{Paused, retryLong, Paused, false}, // the probe retries; a pause is worse
		{Paused, answered, Paused, false},  // only the probe's answer resumes
		{Paused, gaveUp, Paused, false},
		{Paused, drain, Draining, true},
		{Draining, gaveUp, Draining, false}, // a drain never pauses
		{Draining, resumed, Draining, false},
		{Draining, retryLong, Draining, false},
		{Draining, drained, Stopped, true},
		{Running, drained, Stopped, true},
		{Stopped, drain, Stopped, false},
		{Stopped, started, Stopped, false},
		{Stopped, drained, Stopped, false},
	} {
		to, changed := tc.from.next(tc.on)
		if to != tc.to || changed != tc.changed {
			t.Errorf("%s on trigger %d: got %s (changed %v), want %s (changed %v)", tc.from, tc.on, to, changed, tc.to, tc.changed)
		}
	}
}

// TestEveryStateHasAName: the gauge's label values come from States; none is
// "unknown", and each is distinct.
func TestEveryStateHasAName(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range States() {
		n := s.String()
		if n == "" || n == "unknown" || seen[n] {
			t.Errorf("state %d is named %q", s, n)
		}
		seen[n] = true
	}
	if len(seen) != 6 {
		t.Errorf("%d states, want 6", len(seen))
	}
}

func TestStatusMoveKeepsReasonAndSince(t *testing.T) {
	var st status
	if _, to, ok := st.move(checkFailed, now0, "check failed"); !ok || to != Paused {
		t.Fatalf("starting → %s (%v), want paused", to, ok)
	}
	if _, _, ok := st.move(gaveUp, now0, "other"); ok {
		t.Error("a paused destination paused again")
	}
	if s, since, reason := st.get(); s != Paused || !since.Equal(now0) || reason != "check failed" {
		t.Errorf("status %s since %v %q: an ignored trigger changed it", s, since, reason)
	}
}

var now0 = time.Date(2025, 11, 24, 12, 0, 0, 0, time.UTC)
