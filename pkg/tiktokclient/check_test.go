package tiktokclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

func TestCheck(t *testing.T) {
	const adv, pixel, set, crm = tiktoktest.DefaultAdvertiserID, tiktoktest.DefaultPixelCode, "1234567890123456789", "5550000000000000001"
	cases := []struct {
		name       string
		target     tiktokclient.Target
		revoke     bool
		wantErr    string // substring; "" means ok
		credential bool
	}{
		{"offline ok", tiktokclient.Target{AdvertiserID: adv, EventSource: "offline", EventSourceID: set}, false, "", false},
		{"web ok", tiktokclient.Target{AdvertiserID: adv, EventSource: "web", EventSourceID: pixel}, false, "", false},
		{"unknown advertiser", tiktokclient.Target{AdvertiserID: "111", EventSource: "offline", EventSourceID: set}, false, "advertiser_id 111 is not reachable with this access token", true},
		{"offline set used as web", tiktokclient.Target{AdvertiserID: adv, EventSource: "web", EventSourceID: set}, false, "event_source_id " + set + " is not a Pixel code of advertiser " + adv + "; it is an offline event set: set event_source: offline", false},
		{"pixel used as offline", tiktokclient.Target{AdvertiserID: adv, EventSource: "offline", EventSourceID: pixel}, false, "event_source_id " + pixel + " is not an offline event set of advertiser " + adv + "; it is a Pixel code: set event_source: web", false},
		{"unknown offline set", tiktokclient.Target{AdvertiserID: adv, EventSource: "offline", EventSourceID: "123"}, false, "event_source_id 123 is not an offline event set of advertiser " + adv + "; for web events use the Pixel code", false},
		{"unknown pixel", tiktokclient.Target{AdvertiserID: adv, EventSource: "web", EventSourceID: "CXYZ"}, false, "event_source_id CXYZ is not a Pixel code of advertiser " + adv + "; for offline events use the offline event set id", false},
		{"bad event source", tiktokclient.Target{AdvertiserID: adv, EventSource: "app", EventSourceID: set}, false, `event_source "app" must be web, offline or crm`, false},
		{"crm ok", tiktokclient.Target{AdvertiserID: adv, EventSource: "crm", EventSourceID: crm}, false, "", false},
		{"unknown crm set", tiktokclient.Target{AdvertiserID: adv, EventSource: "crm", EventSourceID: "123"}, false, "event_source_id 123 is not a CRM event set of advertiser " + adv + "; find the CRM event set id in Events Manager", false},
		{"pixel used as crm", tiktokclient.Target{AdvertiserID: adv, EventSource: "crm", EventSourceID: pixel}, false, "event_source_id " + pixel + " is not a CRM event set of advertiser " + adv + "; it is a Pixel code: set event_source: web", false},
		{"offline set used as crm", tiktokclient.Target{AdvertiserID: adv, EventSource: "crm", EventSourceID: set}, false, "event_source_id " + set + " is not a CRM event set of advertiser " + adv + "; it is an offline event set: set event_source: offline", false},
		{"crm set used as offline", tiktokclient.Target{AdvertiserID: adv, EventSource: "offline", EventSourceID: crm}, false, "event_source_id " + crm + " is not an offline event set of advertiser " + adv + "; it is a CRM event set: set event_source: crm", false},
		{"crm set used as web", tiktokclient.Target{AdvertiserID: adv, EventSource: "web", EventSourceID: crm}, false, "event_source_id " + crm + " is not a Pixel code of advertiser " + adv + "; it is a CRM event set: set event_source: crm", false},
		{"revoked token", tiktokclient.Target{AdvertiserID: adv, EventSource: "offline", EventSourceID: set}, true, "the access token was refused", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := tiktoktest.NewServer()
			defer srv.Close()
			srv.AddOfflineEventSet(adv, set)
			srv.AddCRMEventSet(adv, crm)
			if tc.revoke {
				srv.RevokeToken(tiktoktest.DefaultToken)
			}
			err := newClient(t, srv, newFakeClock()).Check(context.Background(), tc.target)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			var ce *tiktokclient.CredentialError
			if errors.As(err, &ce) != tc.credential {
				t.Fatalf("errors.As(CredentialError) = %v, want %v (%v)", !tc.credential, tc.credential, err)
			}
		})
	}
}

func TestCheckTurnsOnAutoTracking(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	target := tiktokclient.Target{AdvertiserID: tiktoktest.DefaultAdvertiserID, EventSource: "offline", EventSourceID: tiktoktest.DefaultEventSetID}
	c := newClient(t, srv, newFakeClock())
	if err := c.Check(context.Background(), target); err != nil || srv.AutoTracking(tiktoktest.DefaultEventSetID) {
		t.Fatalf("without auto_tracking: %v, on=%v", err, srv.AutoTracking(tiktoktest.DefaultEventSetID))
	}
	target.AutoTracking = true
	if err := c.Check(context.Background(), target); err != nil || !srv.AutoTracking(tiktoktest.DefaultEventSetID) {
		t.Fatalf("with auto_tracking: %v, on=%v", err, srv.AutoTracking(tiktoktest.DefaultEventSetID))
	}
}

// CRM events go to a CRM event set with their lead object; the sandbox takes them
// as TikTok does and refuses one without lead_id alone.
func TestSendCRMEvents(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	evs := []json.RawMessage{
		json.RawMessage(`{"event":"Lead","event_time":1763980000,"event_id":"l-1","user":{"email":"` + hashA + `"},"lead":{"lead_id":"7000000000000000001","lead_event_source":"HubSpot"}}`),
		json.RawMessage(`{"event":"Lead","event_time":1763980000,"event_id":"l-2","user":{"email":"` + hashA + `"},"lead":{"lead_event_source":"HubSpot"}}`),
		json.RawMessage(`{"event":"Lead","event_time":1763980000,"event_id":"l-3","user":{"email":"` + hashA + `"},"lead":{"lead_id":"7000000000000000003"}}`),
	}
	res, err := newClient(t, srv, newFakeClock()).Send(context.Background(),
		tiktokclient.Request{EventSource: "crm", EventSourceID: tiktoktest.DefaultCRMEventSetID, Events: evs})
	if err != nil {
		t.Fatal(err)
	}
	if o := res.Outcomes[1]; o.Status != tiktokclient.Rejected || !strings.Contains(o.Message, "lead.lead_id") {
		t.Fatalf("event without lead_id: %+v", o)
	}
	acc := srv.Accepted()
	if count(res, tiktokclient.Accepted) != 2 || len(acc) != 2 || acc[0].EventSource != "crm" || acc[1].EventID != "l-3" {
		t.Fatalf("accepted %+v", acc)
	}
}
