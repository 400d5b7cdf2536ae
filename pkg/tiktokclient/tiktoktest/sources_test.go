package tiktoktest_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// sourceIDs are the sandbox's default event sources, by kind.
var sourceIDs = map[string]string{
	events.SourceWeb:     tiktoktest.DefaultPixelCode,
	events.SourceOffline: tiktoktest.DefaultEventSetID,
	events.SourceCRM:     tiktoktest.DefaultCRMEventSetID,
}

// everyColumnEvent is the event pkg/events builds for src from one row that has
// every column of the table, each with its example value.
func everyColumnEvent(t *testing.T, src string) json.RawMessage {
	t.Helper()
	row := map[string]string{}
	for _, c := range events.Columns() {
		row[c.Name] = c.Example
	}
	ts, err := time.Parse(time.RFC3339, row["timestamp"])
	if err != nil {
		t.Fatalf("the timestamp example: %v", err)
	}
	tr, err := events.NewTransformer(events.Config{EventSource: src, EventSourceID: sourceIDs[src],
		Now: func() time.Time { return ts.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := json.Marshal(row)
	var res events.Result
	if err := tr.Message(msg, &res); err != nil || len(res.Events) != 1 {
		t.Fatalf("%s: the transform made %d events of the row (%v, %+v)", src, len(res.Events), err, res.Rejects)
	}
	return json.RawMessage(res.Events[0].JSON)
}

func post(t *testing.T, srv *tiktoktest.Server, src string, ev json.RawMessage) answer {
	t.Helper()
	req := tiktokclient.Request{EventSource: src, EventSourceID: sourceIDs[src], Events: []json.RawMessage{ev}}
	_, a := do(t, "POST", srv.URL+tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", string(req.AppendBody(nil)))
	return a
}

// has reports whether the event object carries the field at path ("user.email",
// "properties.contents[].price").
func has(ev map[string]any, path string) bool {
	var cur any = ev
	for _, part := range strings.Split(path, ".") {
		key, array := strings.CutSuffix(part, "[]")
		obj, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = obj[key]; !ok {
			return false
		}
		if array {
			items, ok := cur.([]any)
			if !ok || len(items) == 0 {
				return false
			}
			cur = items[0]
		}
	}
	return true
}

// edit sets (v != nil) or deletes the field at path, making the objects on the way.
func edit(ev map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	obj := ev
	for _, part := range parts[:len(parts)-1] {
		key, array := strings.CutSuffix(part, "[]")
		if array {
			items, _ := obj[key].([]any)
			if len(items) == 0 {
				items = []any{map[string]any{}}
				obj[key] = items
			}
			obj = items[0].(map[string]any)
			continue
		}
		next, ok := obj[key].(map[string]any)
		if !ok {
			next = map[string]any{}
			obj[key] = next
		}
		obj = next
	}
	if v == nil {
		delete(obj, parts[len(parts)-1])
	} else {
		obj[parts[len(parts)-1]] = v
	}
}

// An event pkg/events builds from a row with every column is accepted by the
// sandbox for every source, and it carries every field the source takes (so the
// acceptance covers all of them) and none it drops.
func TestEverySourceAcceptsTheTransformsEvents(t *testing.T) {
	for _, src := range events.Sources() {
		t.Run(src, func(t *testing.T) {
			srv := tiktoktest.NewServer()
			defer srv.Close()
			ev := everyColumnEvent(t, src)
			var obj map[string]any
			if err := json.Unmarshal(ev, &obj); err != nil {
				t.Fatal(err)
			}
			for _, c := range events.Columns() {
				if got, want := has(obj, c.Field), c.Use(src) != events.Dropped; got != want {
					t.Errorf("%s events carry %s: %v, want %v", src, c.Field, got, want)
				}
			}
			if a := post(t, srv, src, ev); a.Code != 0 {
				t.Fatalf("%s: %+v", src, a)
			}
			if acc := srv.Accepted(); len(acc) != 1 || string(acc[0].Raw) != string(ev) || acc[0].EventSource != src {
				t.Fatalf("%s: accepted %+v", src, acc)
			}
		})
	}
}

// A field the source does not take, or a required one missing, is refused as
// TikTok does: 40002 naming data[0] and the field, never the value, and nothing of
// the request is recorded. The cases come from the columns table; the anchors below
// are what SPEC §3 says, so that an empty or wrong table fails here too.
func TestSourceRefusesFieldsItDoesNotTakeAndMissingRequiredOnes(t *testing.T) {
	const hash = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
	type tc struct {
		src, field string
		value      any // set the field to value; nil: remove it
		why        string
	}
	var cases []tc
	for _, src := range events.Sources() {
		var ids []string
		for _, c := range events.Columns() {
			switch c.Use(src) {
			case events.Dropped:
				var v any = c.Example
				if c.Hashed {
					v = hash // a valid value: only the source can refuse it
				}
				cases = append(cases, tc{src, c.Field, v, "do not take it"})
			case events.Required:
				cases = append(cases, tc{src, c.Field, nil, ""})
			}
			if c.Identity && c.Use(src) != events.Dropped {
				ids = append(ids, c.Field)
			}
		}
		// Without any identity key the source takes, the event names user.
		cases = append(cases, tc{src, strings.Join(ids, " "), nil, "required"})
	}
	anchors := map[[2]string]bool{
		{"web", "page.url"}: false, {"crm", "lead.lead_id"}: false, {"offline", "user.first_name"}: false,
		{"offline", "user.zip_code"}: false, {"offline", "user.external_id"}: false, {"offline", "page.url"}: false,
		{"web", "lead.lead_id"}: false, {"crm", "user.ip"}: false, {"offline", "limited_data_use"}: false,
	}
	for _, c := range cases {
		if _, ok := anchors[[2]string{c.src, c.field}]; ok {
			anchors[[2]string{c.src, c.field}] = true
		}
	}
	for a, seen := range anchors {
		if !seen {
			t.Errorf("no case for %s on %s events", a[1], a[0])
		}
	}

	srv := tiktoktest.NewServer()
	defer srv.Close()
	for _, c := range cases {
		t.Run(c.src+" "+c.field, func(t *testing.T) {
			var obj map[string]any
			if err := json.Unmarshal(everyColumnEvent(t, c.src), &obj); err != nil {
				t.Fatal(err)
			}
			fields := strings.Fields(c.field)
			for _, f := range fields {
				edit(obj, f, c.value)
			}
			ev, _ := json.Marshal(obj)
			before := srv.AcceptedCount()
			a := post(t, srv, c.src, ev)
			want := "Invalid value for data[0]." + c.field + ":"
			if len(fields) > 1 {
				want = "Invalid value for data[0].user:"
			}
			if a.Code != 40002 || !strings.HasPrefix(a.Message, want) || !strings.Contains(a.Message, c.why) {
				t.Fatalf("answer %d %q, want 40002 %q … %q", a.Code, a.Message, want, c.why)
			}
			if s, ok := c.value.(string); ok && len(s) > 3 && strings.Contains(a.Message, s) {
				t.Fatalf("the refusal quotes the value: %q", a.Message)
			}
			if srv.AcceptedCount() != before {
				t.Fatal("a refused request was recorded")
			}
		})
	}
}
