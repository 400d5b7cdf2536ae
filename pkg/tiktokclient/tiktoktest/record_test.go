package tiktoktest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// A bounded sandbox keeps the newest accepted events (at least n, at most n + n/4),
// each with the exact bytes it was sent as, while the counts stay exact; a later
// request does not disturb what was recorded before.
func TestMaxRecordedKeepsNewestAsSent(t *testing.T) {
	srv := tiktoktest.NewServer(tiktoktest.WithMaxRecorded(4))
	defer srv.Close()
	sent := map[string]string{}
	for i := range 12 {
		id := fmt.Sprintf("r-%d", i)
		ev := fmt.Sprintf(`{ "event" : "Purchase", "event_time":1763980000,"event_id":%q, "user":{"email":"%s"}, "custom_data":{"n":%d} }`, id, h, i)
		sent[id] = ev
		if _, a := do(t, "POST", srv.URL+tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json",
			body("offline", tiktoktest.DefaultEventSetID, ev)); a.Code != 0 {
			t.Fatalf("request %d: %+v", i, a)
		}
	}
	acc := srv.Accepted()
	if srv.AcceptedCount() != 12 || len(acc) < 4 || len(acc) > 5 {
		t.Fatalf("count %d, recorded %d; want 12 and 4–5", srv.AcceptedCount(), len(acc))
	}
	if last := acc[len(acc)-1]; last.EventID != "r-11" {
		t.Fatalf("newest recorded is %q", last.EventID)
	}
	for i, a := range acc {
		if want := fmt.Sprintf("r-%d", 12-len(acc)+i); a.EventID != want || string(a.Raw) != sent[want] ||
			a.Event != "Purchase" || a.EventTime != 1763980000 || a.EventSourceID != tiktoktest.DefaultEventSetID {
			t.Fatalf("recorded[%d] = %+v (raw %s), want %s as sent", i, a, a.Raw, want)
		}
	}
	// Same id under another event name is another event (TikTok's key is
	// event_source_id + event + event_id); under the same name it is a repeat.
	web := func(name string) string {
		return body("web", tiktoktest.DefaultPixelCode, `{"event":"`+name+`","event_time":1763980000,"event_id":"x","user":{"email":"`+h+`"},"page":{"url":"https://a.example/"}}`)
	}
	for _, b := range []string{web("Ab"), web("AB"), web("Ab")} {
		if _, a := do(t, "POST", srv.URL+tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", b); a.Code != 0 {
			t.Fatalf("%+v", a)
		}
	}
	if st := srv.Stats(); st.Accepted != 14 || st.Deduplicated != 1 {
		t.Fatalf("accepted %d deduplicated %d, want 14 and 1", st.Accepted, st.Deduplicated)
	}
	if acc := srv.Accepted(); !strings.HasPrefix(string(acc[len(acc)-1].Raw), `{"event":"AB"`) {
		t.Fatalf("newest raw %s", acc[len(acc)-1].Raw)
	}
}
