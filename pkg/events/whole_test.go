package events

import (
	"slices"
	"strings"
	"testing"
)

// TestWholeEventsOrNothing: when any row of an event (the rows of one message that
// share its event_id) is rejected, every other row of it is rejected as invalid_row
// naming the bad row and its field, and no event is made; other events of the message
// are unaffected, and a row identical to one already merged stays a duplicate.
func TestWholeEventsOrNothing(t *testing.T) {
	item := func(id, sku, price string, extra ...string) string {
		return `{"timestamp":` + ts + `,"event_id":"` + id + `","email":"a@b.co","content_id":"` + sku + `","price":"` + price + `","quantity":1` + strings.Join(extra, "") + `}`
	}
	noID := func(sku, price string, extra ...string) string {
		return `{"timestamp":` + ts + `,"email":"a@b.co","content_id":"` + sku + `","price":"` + price + `","quantity":1` + strings.Join(extra, "") + `}`
	}
	tests := []struct {
		name       string
		rows       []string
		events     []string // ids of the events sent
		bad        int      // the bad row
		field      string   // its field
		siblings   []int    // rows rejected because of it
		duplicates []int
	}{
		{name: "bad price in the second item",
			rows:   []string{item("o1", "s1", "39.98"), item("o1", "s2", "$5"), item("o2", "s9", "1")},
			events: []string{"o2"}, bad: 1, field: "price", siblings: []int{0}},
		{name: "bad first item",
			rows:   []string{item("o1", "s1", "x"), item("o1", "s2", "5"), item("o1", "s3", "6")},
			events: nil, bad: 0, field: "price", siblings: []int{1, 2}},
		{name: "bad row whose timestamp is invalid still names its event",
			rows:   []string{item("o1", "s1", "1"), `{"timestamp":"soon","event_id":"o1","email":"a@b.co","content_id":"s2"}`},
			events: nil, bad: 1, field: "timestamp", siblings: []int{0}},
		{name: "generated ids: a bad item of the same person, event and time",
			rows:   []string{noID("s1", "1"), noID("s2", "-1"), item("o2", "s9", "1")},
			events: []string{"o2"}, bad: 1, field: "price", siblings: []int{0}},
		{name: "outside the window",
			rows:   []string{item("o1", "s1", "1"), `{"timestamp":"2020-01-01","event_id":"o1","email":"a@b.co","content_id":"s2"}`},
			events: nil, bad: 1, field: "timestamp", siblings: []int{0}},
		{name: "a contradicting explicit value",
			rows:   []string{item("o1", "s1", "39.98", `,"value":"44.98"`), item("o1", "s2", "5", `,"value":"44.98"`), item("o1", "s3", "5", `,"value":"44.98"`)},
			events: nil, bad: 0, field: "value", siblings: []int{1, 2}},
		{name: "duplicates stay duplicates",
			rows:   []string{item("o1", "s1", "1"), item("o1", "s1", "1"), item("o1", "s2", "bad")},
			events: nil, bad: 2, field: "price", siblings: []int{0}, duplicates: []int{1}},
		{name: "all good",
			rows:   []string{item("o1", "s1", "39.98"), item("o1", "s2", "5"), item("o1", "s2", "5")},
			events: []string{"o1"}, bad: -1, duplicates: []int{2}},
		{name: "a bad row with no event_id and no valid identity stands alone",
			rows:   []string{noID("s1", "1"), `{"timestamp":` + ts + `,"email":"not-an-address","content_id":"s2"}`},
			events: []string{""}, bad: 1, field: "email"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, offline(), "["+strings.Join(tc.rows, ",")+"]")
			var ids []string
			for _, ev := range res.Events {
				ids = append(ids, ev.ID)
			}
			if len(ids) != len(tc.events) {
				t.Fatalf("events %v, want %v; rejects %+v", ids, tc.events, res.Rejects)
			}
			for i := range ids {
				if tc.events[i] != "" && ids[i] != tc.events[i] {
					t.Errorf("events %v, want %v", ids, tc.events)
				}
			}
			if !slices.Equal(res.Duplicates, tc.duplicates) {
				t.Errorf("duplicates %v, want %v", res.Duplicates, tc.duplicates)
			}
			if tc.bad < 0 {
				if len(res.Rejects) != 0 {
					t.Errorf("rejects %+v", res.Rejects)
				}
				return
			}
			rejected := map[int]Reject{}
			for _, r := range res.Rejects {
				rejected[r.Row] = r
			}
			if len(rejected) != 1+len(tc.siblings) {
				t.Errorf("rejected rows %+v, want %d and %v", res.Rejects, tc.bad, tc.siblings)
			}
			if r, ok := rejected[tc.bad]; !ok || r.Field != tc.field || !strings.HasPrefix(r.Err, tc.field+": ") {
				t.Errorf("bad row %d: %+v, want field %s", tc.bad, r, tc.field)
			}
			for _, s := range tc.siblings {
				r := rejected[s]
				if r.Reason != ReasonInvalidRow || r.Field != tc.field || !strings.Contains(r.Err, "row "+itoa(int64(tc.bad))+" ") || !strings.Contains(r.Err, "whole") {
					t.Errorf("row %d: %+v; want invalid_row naming row %d and %s", s, r, tc.bad, tc.field)
				}
			}
			if !slices.IsSortedFunc(res.Rejects, func(a, b Reject) int { return a.Row - b.Row }) {
				t.Errorf("rejects not in row order: %+v", res.Rejects)
			}
		})
	}
}

// TestWholeEventFixedAndReplayed: the corrected rows of a dead-lettered order, replayed
// together, are sent once, whole, with the right value.
func TestWholeEventFixedAndReplayed(t *testing.T) {
	tr := mustT(t, offline())
	msg := []byte(`[{"timestamp":` + ts + `,"event_id":"o1","email":"a@b.co","content_id":"s1","price":"19.99","quantity":2},
	 {"timestamp":` + ts + `,"event_id":"o1","email":"a@b.co","content_id":"s2","price":"$5","quantity":1}]`)
	var res Result
	if err := tr.Message(msg, &res); err != nil || len(res.Events) != 0 || len(res.Rejects) != 2 {
		t.Fatalf("%v events %d rejects %+v", err, len(res.Events), res.Rejects)
	}
	var letters []string
	for _, r := range res.Rejects {
		dl, err := tr.DeadLetter(&res, msg, r.Row)
		if err != nil {
			t.Fatal(err)
		}
		letters = append(letters, strings.Replace(string(dl), `"$5"`, `"5"`, 1))
	}
	replayed := run(t, offline(), "["+strings.Join(letters, ",")+"]")
	if len(replayed.Events) != 1 || !strings.Contains(string(replayed.Events[0].JSON), `"value":44.98`) {
		t.Fatalf("replayed: %+v", replayed)
	}
}
