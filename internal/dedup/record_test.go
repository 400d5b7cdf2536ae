package dedup

import (
	"reflect"
	"testing"
	"time"
)

// scanKeys reads what encodeRecord writes exactly as encoding/json does, and gives up
// (for decodeRecord) on anything else.
func TestScanKeysAgreesWithJSON(t *testing.T) {
	at := time.Date(2026, 12, 1, 19, 40, 51, 123e6, time.UTC)
	fast := 0
	for _, keys := range [][]Key{
		nil,
		{{Event: "Purchase", ID: "o-1"}},
		{{Event: "Purchase", ID: "o-1"}, {ID: "o-2"}, {Event: "InitiateCheckout", ID: ""}},
		{{Event: "Ünïcødé 名前", ID: "id with spaces"}, {Event: "a<b>&c", ID: "<script>"}},
		{{Event: `quo"te`, ID: `back\slash`}, {ID: "tab\there"}, {ID: "\x00\x01"}},
		{{Event: "Purchase", ID: `"events":[{"event_id":"x"}]`}},
	} {
		for _, reqID := range []string{"req-1", `"events":[{"event_id":"forged"}]`, ""} {
			body, err := encodeRecord(Record{Destination: "stores", AcceptedAt: at, RequestID: reqID, Events: keys})
			if err != nil {
				t.Fatal(err)
			}
			want, err := decodeRecord("stores", body)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := scanKeys(body, nil)
			if !ok {
				// Escaped strings are left to encoding/json: fine, as long as that is why.
				if !reflect.DeepEqual(want.Events, keys) && len(keys) > 0 {
					t.Errorf("decodeRecord(%s) = %+v, want %+v", body, want.Events, keys)
				}
				continue
			}
			fast++
			if len(got) == 0 && len(want.Events) == 0 {
				continue
			}
			if !reflect.DeepEqual(got, want.Events) {
				t.Errorf("scanKeys(%s) = %+v, want %+v", body, got, want.Events)
			}
		}
	}
	if fast < 9 { // the records whose strings need no escape
		t.Errorf("only %d records took the fast path", fast)
	}
	for _, body := range []string{
		`{"accepted_at":"2026-12-01T19:40:51Z","request_id":"r","events":[ {"event_id":"x"}]}`,
		`{"events":[{"event_id":"x"}],"request_id":"r"}`,
		`{"accepted_at":"2026-12-01T19:40:51Z","events":[{"event_id":"x","event":"Purchase"}]}`,
		`{"accepted_at":"2026-12-01T19:40:51Z","events":[{"event_id":"x"}`,
		`{"accepted_at":"2026-12-01T19:40:51Z","events":[{"event_id":"x}]}`,
		`{"events":null}`,
		`not json`,
	} {
		if keys, ok := scanKeys([]byte(body), nil); ok {
			t.Errorf("scanKeys(%s) = %+v, true; want it to leave this to encoding/json", body, keys)
		}
	}
}
