package events

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestMergeLineItems(t *testing.T) {
	row := func(id, email, sku, price, qty string) string {
		return `{"timestamp":` + ts + `,"event_id":"` + id + `","email":"` + email + `","content_id":"` + sku + `","price":"` + price + `","quantity":"` + qty + `","order_id":"o-` + id + `"}`
	}
	res := run(t, offline(), "["+strings.Join([]string{
		row("1", "a@b.co", "s1", "19.99", "3"),
		row("2", "c@d.co", "s9", "1", "1"),
		row("1", "a@b.co", "s2", "0.01", "7"),
		row("1", "a@b.co", "s1", "19.99", "3"), // identical to row 0: a duplicate
		row("1", "x@b.co", "s3", "10", "1"),    // a second address for the same order
	}, ",")+"]")
	if len(res.Events) != 2 {
		t.Fatalf("events = %d, want 2", len(res.Events))
	}
	ev := res.Events[0]
	if !slices.Equal(ev.Rows, []int{0, 2, 4}) || !slices.Equal(res.Events[1].Rows, []int{1}) {
		t.Errorf("rows = %v, %v", ev.Rows, res.Events[1].Rows)
	}
	if !slices.Equal(res.Duplicates, []int{3}) {
		t.Errorf("duplicates = %v", res.Duplicates)
	}
	want := expand(`{"event":"Purchase","event_time":1763980000,"event_id":"1","user":{"email":["{sha:a@b.co}","{sha:x@b.co}"]},` +
		`"properties":{"contents":[{"content_id":"s1","price":19.99,"quantity":3},{"content_id":"s2","price":0.01,"quantity":7},{"content_id":"s3","price":10,"quantity":1}],"content_ids":["s1","s2","s3"],` +
		`"content_type":"product","currency":"USD","value":70.04,"order_id":"o-1"}}`)
	if string(ev.JSON) != want {
		t.Errorf("merged event\n got %s\nwant %s", ev.JSON, want)
	}
}

// TestMergeConflicts: a later row that says another event, timestamp, currency,
// value or limited_data_use than the first row of its event_id is rejected naming
// that field, and the whole event with it: nothing of it is sent.
func TestMergeConflicts(t *testing.T) {
	base := `{"timestamp":` + ts + `,"event_id":"o","email":"a@b.co","content_id":"s1","currency":"USD","value":5,"limited_data_use":true,"page_url":"https://x.example/"}`
	for _, tc := range []struct {
		name, second, field string
	}{
		{"event", `{"timestamp":` + ts + `,"event":"Lead","event_id":"o","email":"a@b.co","content_id":"s2"}`, "event"},
		{"timestamp", `{"timestamp":1763980001,"event_id":"o","email":"a@b.co","content_id":"s2"}`, "timestamp"},
		{"currency", `{"timestamp":` + ts + `,"event_id":"o","email":"a@b.co","content_id":"s2","currency":"EUR"}`, "currency"},
		{"value", `{"timestamp":` + ts + `,"event_id":"o","email":"a@b.co","content_id":"s2","value":"6"}`, "value"},
		{"limited_data_use", `{"timestamp":` + ts + `,"event_id":"o","email":"a@b.co","content_id":"s2","limited_data_use":"false"}`, "limited_data_use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := web()
			cfg.FixedEventName = "Purchase"
			second := strings.TrimSuffix(tc.second, "}") + `,"page_url":"https://x.example/"}`
			res := run(t, cfg, "["+base+","+second+"]")
			if len(res.Events) != 0 || len(res.Rejects) != 2 {
				t.Fatalf("events %d rejects %+v", len(res.Events), res.Rejects)
			}
			bad, sibling := res.Rejects[1], res.Rejects[0]
			if bad.Row != 1 || bad.Reason != ReasonInvalidRow || bad.Field != tc.field || !strings.HasPrefix(bad.Err, tc.field+": ") {
				t.Errorf("bad row's reject = %+v", bad)
			}
			if sibling.Row != 0 || sibling.Reason != ReasonInvalidRow || sibling.Field != tc.field || !strings.Contains(sibling.Err, "row 1 ") {
				t.Errorf("first row's reject = %+v", sibling)
			}
		})
	}
	// A missing currency on a later line item is not a conflict: the event's applies.
	res := run(t, web(), "["+strings.Replace(base, `"event_id"`, `"event":"Lead","event_id"`, 1)+`,{"timestamp":`+ts+`,"event":"Lead","event_id":"o","email":"a@b.co","content_id":"s2","page_url":"https://x.example/"}]`)
	if len(res.Rejects) != 0 || !strings.Contains(string(res.Events[0].JSON), `"currency":"USD"`) {
		t.Errorf("rejects %+v, %s", res.Rejects, res.Events[0].JSON)
	}
}

// TestMergeGeneratedIDs: rows without event_id merge when they describe the same
// customer, event and time (their generated ids are equal), and stay apart otherwise.
func TestMergeGeneratedIDs(t *testing.T) {
	res := run(t, offline(), `[
	 {"timestamp":`+ts+`,"phone":"415-555-2671","content_id":"a","price":1,"quantity":1},
	 {"timestamp":`+ts+`,"phone":"+1 (415) 555 2671","content_id":"b","price":2,"quantity":1},
	 {"timestamp":1763980001,"phone":"415-555-2671","content_id":"c"}]`)
	if len(res.Events) != 2 || len(res.Events[0].Rows) != 2 {
		t.Fatalf("events: %+v", res.Events)
	}
	if !strings.Contains(string(res.Events[0].JSON), `"value":3`) {
		t.Errorf("%s", res.Events[0].JSON)
	}
}

// TestMergeManyRows exercises the map path (more than 16 rows) against the same
// expectations as the linear one.
func TestMergeManyRows(t *testing.T) {
	var rows []string
	for i := range 100 {
		rows = append(rows, fmt.Sprintf(`{"timestamp":%s,"event_id":"o%d","email":"a@b.co","content_id":"s%d","price":"0.1","quantity":1}`, ts, i%10, i))
	}
	rows = append(rows, rows[5]) // a duplicate of row 5
	res := run(t, offline(), "["+strings.Join(rows, ",")+"]")
	if len(res.Events) != 10 || !slices.Equal(res.Duplicates, []int{100}) {
		t.Fatalf("events %d duplicates %v", len(res.Events), res.Duplicates)
	}
	for i, ev := range res.Events {
		if ev.ID != fmt.Sprintf("o%d", i) || len(ev.Rows) != 10 || ev.Rows[1] != i+10 {
			t.Errorf("event %d: id %s rows %v", i, ev.ID, ev.Rows)
		}
		if !strings.Contains(string(ev.JSON), `"value":1}`) {
			t.Errorf("event %d value: %s", i, ev.JSON)
		}
	}
}

func TestMatchKeys(t *testing.T) {
	res := run(t, web(), `[{"timestamp":`+ts+`,"event":"Lead","email":"a@b.co","phone":"4155552671","ip":"1.1.1.1","agent":"UA","page_url":"https://x.example/"},
	 {"timestamp":`+ts+`,"event":"Lead","external_id":"u","cookie_id":"c","tiktok_click_id":"k","locale":"en","page_url":"https://x.example/"}]`)
	if len(res.Events) != 2 {
		t.Fatalf("%+v", res.Rejects)
	}
	if got, want := res.Events[0].Keys, KeyEmail|KeyPhone|KeyIP|KeyUserAgent; got != want {
		t.Errorf("keys[0] = %b, want %b", got, want)
	}
	if got, want := res.Events[1].Keys, KeyExternalID|KeyTTP|KeyTTCLID; got != want {
		t.Errorf("keys[1] = %b, want %b", got, want)
	}
}

// TestResultReuse: a reused Result gives the same answer as a fresh one.
func TestResultReuse(t *testing.T) {
	tr := mustT(t, offline())
	var res Result
	a := []byte(`[{"timestamp":` + ts + `,"event_id":"1","email":"a@b.co","content_id":"x"},{"timestamp":` + ts + `,"event_id":"1","email":"a@b.co","content_id":"y"}]`)
	b := []byte(`{"timestamp":` + ts + `,"event_id":"2","email":"c@b.co"}`)
	_ = tr.Message(a, &res)
	first := string(res.Events[0].JSON)
	_ = tr.Message(b, &res)
	checkAccounting(t, &res)
	if len(res.Events) != 1 || res.Events[0].ID != "2" || !slices.Equal(res.Events[0].Rows, []int{0}) {
		t.Fatalf("%+v", res.Events)
	}
	_ = tr.Message(a, &res)
	if string(res.Events[0].JSON) != first {
		t.Errorf("reuse changed the output:\n%s\n%s", res.Events[0].JSON, first)
	}
}

// TestAllocs: with a reused Result, a single-row message costs at most one allocation
// (the event id string). The phone is pre-hashed here so the figure does not depend
// on the phone parser; BenchmarkTransform measures the full typical row.
func TestAllocs(t *testing.T) {
	tr := mustT(t, offline())
	var res Result
	msg := []byte(`{"timestamp":"2025-11-24T10:26:40Z","event_id":"o-1","email":" Ann@Example.com","phone":"` + sha("+14155552671") + `","content_id":"sku-1","price":"19.99","quantity":3,"order_id":"o-1"}`)
	_ = tr.Message(msg, &res)
	if n := testing.AllocsPerRun(200, func() { _ = tr.Message(msg, &res) }); n > 1 {
		t.Errorf("allocations per row = %v, want ≤ 1", n)
	}
}
