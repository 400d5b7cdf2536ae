package trace

import (
	"fmt"
	"testing"
)

func TestEventRows(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"event_id":"o-1","email":"x"}`, "map[o-1:1]"},
		{`[{"event_id":"o-1"},{"event_id":"o-1"},{"event_id":"o-2"}]`, "map[o-1:2 o-2:1]"},
		{`[{"event_id":"o-1"},"junk",{"no_id":1}]`, "map[o-1:1]"},
		{` {"event_id":7} `, "map[7:1]"},
		{`not json`, "map[]"},
		{`[broken`, "map[]"},
		{``, "map[]"},
	} {
		if got := fmt.Sprint(eventRows([]byte(tc.body))); got != tc.want {
			t.Errorf("eventRows(%s) = %s, want %s", tc.body, got, tc.want)
		}
	}
}
