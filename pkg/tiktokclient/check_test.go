package tiktokclient_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

func TestCheck(t *testing.T) {
	const adv, pixel, set = tiktoktest.DefaultAdvertiserID, tiktoktest.DefaultPixelCode, "1234567890123456789"
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
		{"bad event source", tiktokclient.Target{AdvertiserID: adv, EventSource: "app", EventSourceID: set}, false, `event_source "app" must be web or offline`, false},
		{"revoked token", tiktokclient.Target{AdvertiserID: adv, EventSource: "offline", EventSourceID: set}, true, "the access token was refused", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := tiktoktest.NewServer()
			defer srv.Close()
			srv.AddOfflineEventSet(adv, set)
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
