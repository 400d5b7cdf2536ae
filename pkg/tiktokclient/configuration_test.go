package tiktokclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

func TestEnvelopeField(t *testing.T) {
	cases := map[string]string{
		"Invalid value for event_source_id: not a valid string.":          tiktokclient.FieldEventSourceID,
		"Invalid value for event_source: it must be web, offline or crm.": tiktokclient.FieldEventSource,
		"Invalid value for test_event_code.":                              tiktokclient.FieldTestEventCode,
		"Advertiser does not exist or has no permission.":                 tiktokclient.FieldAdvertiser,
		"Invalid value for advertiser_id.":                                tiktokclient.FieldAdvertiser,
		"Access token is invalid.":                                        tiktokclient.FieldAccessToken,
		"Invalid value for data[3].event: not a standard event name.":     "",
		"Invalid value for data[0].properties.event_source_url: bad.":     "",
		"Invalid value for data: at least one event is required.":         "",
		"Invalid value.":   "",
		"Invalid request.": "",
		"":                 "",
	}
	for msg, want := range cases {
		if got := tiktokclient.EnvelopeField(msg); got != want {
			t.Errorf("EnvelopeField(%q) = %q, want %q", msg, got, want)
		}
	}
}

// Every classification of a bad-events answer, against the sandbox: an answer that
// names the envelope, or that every event gets alone, pauses (a *CredentialError,
// nothing rejected); an event's own refusal is bisected and rejected; a partial
// success is accepted and counted.
func TestBadEventsClassification(t *testing.T) {
	type want struct {
		config   string // "" (no error), "envelope" or "alike"
		field    string // CredentialError.Field
		alike    int    // CredentialError.RefusedAlike
		rejected []int  // indexes rejected
		maxReqs  int    // requests made, at most
		text     string // in the error text
		partial  tiktokclient.Partial
	}
	poisonAll := func(n int) func(*tiktoktest.Server) {
		return func(s *tiktoktest.Server) {
			for i := range n {
				s.PoisonEvent(fmt.Sprintf("ev-%d", i))
			}
		}
	}
	cases := []struct {
		name  string
		n     int
		src   string // event_source_id (default: the default offline set)
		setup func(*tiktoktest.Server)
		edit  func([]json.RawMessage)
		want  want
	}{
		{name: "unknown event set: 40002 names event_source_id", n: 100, src: "111",
			want: want{config: "envelope", field: tiktokclient.FieldEventSourceID, maxReqs: 1,
				text: "no event is at fault: check the destination's event_source and event_source_id"}},
		{name: "Pixel code sent as offline", n: 100, src: tiktoktest.DefaultPixelCode,
			want: want{config: "envelope", field: tiktokclient.FieldEventSourceID, maxReqs: 1, text: "not a valid string"}},
		{name: "test_event_code refused", n: 10, setup: func(s *tiktoktest.Server) {
			s.FailNextWith(1, 40002, "Invalid value for test_event_code: not found.")
		}, want: want{config: "envelope", field: tiktokclient.FieldTestEventCode, maxReqs: 1, text: "check the destination's test_event_code"}},
		{name: "advertiser named by a 40000", n: 10, setup: func(s *tiktoktest.Server) {
			s.FailNextWith(1, 40000, "Advertiser is not authorized for the Events API.")
		}, want: want{config: "envelope", field: tiktokclient.FieldAdvertiser, maxReqs: 1, text: "check the destination's advertiser_id"}},
		{name: "envelope answer in the middle of bisection", n: 10, setup: func(s *tiktoktest.Server) {
			s.FailNext(1, 40002)
			s.FailNextWith(1, 40002, "Invalid value for event_source_id: not a valid string.")
		}, want: want{config: "envelope", field: tiktokclient.FieldEventSourceID, maxReqs: 2}},
		{name: "one bad event: bisected and rejected", n: 100, setup: func(s *tiktoktest.Server) { s.PoisonEvent("ev-41") },
			want: want{rejected: []int{41}, maxReqs: 1 + 2*7}},
		{name: "first two bad alike, the rest good: rejected, not a pause", n: 100, setup: func(s *tiktoktest.Server) {
			s.PoisonEvent("ev-0")
			s.PoisonEvent("ev-1")
		}, want: want{rejected: []int{0, 1}, maxReqs: 1 + 2*2*7 + 8}},
		{name: "bad events of different kinds: rejected", n: 6, edit: func(evs []json.RawMessage) {
			evs[0] = json.RawMessage(`{"event":"Purchase","event_time":1.5,"event_id":"ev-0"}`)
			evs[1] = json.RawMessage(`{"event":"Purchase","event_time":1763980000,"event_id":"ev-1","user":{"email":"someone@example.com"}}`)
		}, want: want{rejected: []int{0, 1}, maxReqs: 1 + 2*2*3}},
		{name: "every event refused alike: a pause", n: 1000, setup: poisonAll(1000),
			want: want{config: "alike", alike: 10, maxReqs: 10 + 2 + 8,
				text: "TikTok refused each of the 10 events it was sent alone the same way (code 40002: Invalid value for data[0], request_id"}},
		{name: "both events of two refused alike: a pause", n: 2, setup: poisonAll(2),
			want: want{config: "alike", alike: 2, maxReqs: 3}},
		{name: "every one of five refused alike: a pause", n: 5, setup: poisonAll(5),
			want: want{config: "alike", alike: 5, maxReqs: 3 + 2 + 3}},
		{name: "a single event refused alone: rejected (nothing to compare)", n: 1, setup: poisonAll(1),
			want: want{rejected: []int{0}, maxReqs: 1}},
		{name: "partial success with data: accepted and counted", n: 10, setup: func(s *tiktoktest.Server) { s.PartialNext(1, 3, 7) },
			want: want{maxReqs: 1, partial: tiktokclient.Partial{Answers: 1, Failed: 2, ByCode: map[int]int{40002: 2}}}},
		{name: "partial success without data: accepted, counted as unlisted", n: 10, setup: func(s *tiktoktest.Server) { s.FailNext(1, 20001) },
			want: want{maxReqs: 1, partial: tiktokclient.Partial{Answers: 1, Unlisted: 1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := tiktoktest.NewServer()
			defer srv.Close()
			if tc.setup != nil {
				tc.setup(srv)
			}
			req := offlineRequest(tc.n)
			if tc.src != "" {
				req.EventSourceID = tc.src
			}
			if tc.edit != nil {
				tc.edit(req.Events)
			}
			res, err := newClient(t, srv, newFakeClock()).Send(context.Background(), req)
			var ce *tiktokclient.CredentialError
			switch {
			case tc.want.config == "" && err != nil:
				t.Fatalf("err %v", err)
			case tc.want.config != "" && !errors.As(err, &ce):
				t.Fatalf("err %v, want a *CredentialError", err)
			case ce != nil && (ce.Field != tc.want.field || ce.RefusedAlike != tc.want.alike):
				t.Fatalf("Field %q RefusedAlike %d, want %q %d: %v", ce.Field, ce.RefusedAlike, tc.want.field, tc.want.alike, err)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tc.want.text) {
					t.Fatalf("error text %q, want it to say %q", err, tc.want.text)
				}
				// An error names settings, never an event's values.
				for _, v := range []string{"ev-", "someone@", hashA[:16]} {
					if strings.Contains(err.Error(), v) {
						t.Fatalf("error quotes an event's value %q: %s", v, err)
					}
				}
			}
			var rejected []int
			for i, o := range res.Outcomes {
				if o.Status == tiktokclient.Rejected {
					rejected = append(rejected, i)
				}
				if err == nil && o.Status == tiktokclient.Unsettled {
					t.Fatalf("event %d unsettled without an error", i)
				}
			}
			if !reflect.DeepEqual(rejected, tc.want.rejected) {
				t.Fatalf("rejected %v, want %v", rejected, tc.want.rejected)
			}
			if ce != nil && ce.RefusedAlike > 0 {
				// A probe of one event, refused the same way, is still the configuration.
				probe := tiktokclient.Request{EventSource: req.EventSource, EventSourceID: req.EventSourceID, Events: req.Events[tc.n-1:]}
				pres, perr := newClient(t, srv, newFakeClock()).Send(context.Background(), probe)
				if perr != nil || !ce.SameRefusal(pres.Outcomes[0]) {
					t.Fatalf("probe: %v, %+v: want the same refusal", perr, pres.Outcomes[0])
				}
				if ce.SameRefusal(tiktokclient.Outcome{Status: tiktokclient.Accepted}) ||
					ce.SameRefusal(tiktokclient.Outcome{Status: tiktokclient.Rejected, Code: ce.Code, Message: "Invalid value for data[0].event_time: x"}) {
					t.Fatal("SameRefusal holds for another outcome")
				}
			}
			if tc.want.config != "" && count(res, tiktokclient.Unsettled) != tc.n {
				t.Fatalf("a configuration error settled %d events", tc.n-count(res, tiktokclient.Unsettled))
			}
			if res.Requests > tc.want.maxReqs || (ce == nil || ce.RefusedAlike == 0) && res.Requests != srv.Requests() {
				t.Fatalf("%d requests (sandbox %d), want at most %d", res.Requests, srv.Requests(), tc.want.maxReqs)
			}
			if !reflect.DeepEqual(res.Partial, tc.want.partial) {
				t.Fatalf("Partial %+v, want %+v", res.Partial, tc.want.partial)
			}
			t.Logf("%d events: %d requests", tc.n, res.Requests)
		})
	}
}
