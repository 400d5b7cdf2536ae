package tiktokclient_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// One bad event in 1,000 costs O(log n) requests: 1 + at most 2 per level of the
// 10 levels (doc.go), and exactly that bad event is rejected with TikTok's answer.
func TestBisectIsolatesBadEvents(t *testing.T) {
	cases := []struct {
		name     string
		bad      []int
		requests int // exact, for this deterministic server
		maxReqs  int // the doc.go bound 1 + 2·k·⌈log2 n⌉
	}{
		{"last", []int{999}, 11 + 1, 21},
		{"first", []int{0}, 19, 21}, // left halves are floor(n/2): 9 levels
		{"middle", []int{500}, 0, 21},
		{"two neighbours", []int{10, 11}, 0, 41},
		{"five spread", []int{3, 250, 251, 600, 998}, 0, 101},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := tiktoktest.NewServer()
			defer srv.Close()
			for _, i := range tc.bad {
				srv.PoisonEvent(fmt.Sprintf("ev-%d", i))
			}
			c := newClient(t, srv, newFakeClock())
			res, err := c.Send(context.Background(), offlineRequest(1000))
			if err != nil {
				t.Fatal(err)
			}
			isBad := map[int]bool{}
			for _, i := range tc.bad {
				isBad[i] = true
			}
			for i, o := range res.Outcomes {
				switch {
				case isBad[i] && (o.Status != tiktokclient.Rejected || o.Code != 40002 || !strings.Contains(o.Message, fmt.Sprintf("event ev-%d was refused", i)) || o.RequestID == ""):
					t.Fatalf("bad event %d: %+v", i, o)
				case !isBad[i] && o.Status != tiktokclient.Accepted:
					t.Fatalf("good event %d: %+v", i, o)
				}
			}
			if srv.AcceptedCount() != 1000-len(tc.bad) {
				t.Fatalf("server accepted %d", srv.AcceptedCount())
			}
			if res.Requests > tc.maxReqs || (tc.requests > 0 && res.Requests != tc.requests) {
				t.Fatalf("%d requests, want %d (bound %d)", res.Requests, tc.requests, tc.maxReqs)
			}
			if srv.Requests() != res.Requests {
				t.Fatalf("server saw %d requests, client counted %d", srv.Requests(), res.Requests)
			}
			t.Logf("%d bad in 1000: %d requests", len(tc.bad), res.Requests)
		})
	}
}

// A malformed event (not just a poisoned id) is isolated with the server's own
// message, which names the field.
func TestBisectRejectsInvalidEventWithTikTokMessage(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	req := offlineRequest(100)
	req.Events[42] = json.RawMessage(`{"event":"Purchase","event_time":1763980000.5,"event_id":"ev-42","user":{"email":"` + hashA + `"}}`)
	req.Events[7] = json.RawMessage(`{"event":"Purchase","event_time":1763980000,"event_id":"ev-7","user":{"email":"someone@example.com"}}`)
	res, err := newClient(t, srv, newFakeClock()).Send(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if o := res.Outcomes[42]; o.Status != tiktokclient.Rejected || !strings.Contains(o.Message, "event_time") {
		t.Fatalf("event 42: %+v", o)
	}
	if o := res.Outcomes[7]; o.Status != tiktokclient.Rejected || !strings.Contains(o.Message, "user.email") || strings.Contains(o.Message, "someone@") {
		t.Fatalf("event 7: %+v", o)
	}
	if count(res, tiktokclient.Accepted) != 98 {
		t.Fatalf("accepted %d", count(res, tiktokclient.Accepted))
	}
}

// More than 1,000 events are sent as requests of at most 1,000.
func TestOversizedRequestIsSplit(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	res, err := newClient(t, srv, newFakeClock()).Send(context.Background(), offlineRequest(1500))
	if err != nil || count(res, tiktokclient.Accepted) != 1500 || res.Requests != 2 {
		t.Fatalf("err %v, accepted %d in %d requests", err, count(res, tiktokclient.Accepted), res.Requests)
	}
}
