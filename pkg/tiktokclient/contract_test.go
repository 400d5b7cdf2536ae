package tiktokclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// contractEnv is what the contract suite needs of an API: the sandbox's defaults,
// or a real TikTok account.
type contractEnv struct {
	base, token, advertiser, source, sourceID, testEventCode string
}

// TestContractSandbox runs the contract suite against tiktoktest: the stand-in and
// the real API must pass the same suite.
func TestContractSandbox(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	runContract(t, contractEnv{base: srv.URL, token: tiktoktest.DefaultToken, advertiser: tiktoktest.DefaultAdvertiserID,
		source: "offline", sourceID: tiktoktest.DefaultEventSetID, testEventCode: "TEST123"})
}

// TestContractRealAPI runs the suite against TikTok itself when credentials are set.
// It sends events with test_event_code when TIKTOK_TEST_EVENT_CODE is set (use one:
// test events do not count in reporting).
func TestContractRealAPI(t *testing.T) {
	env := contractEnv{
		base: os.Getenv("TIKTOK_API_BASE"), token: os.Getenv("TIKTOK_ACCESS_TOKEN"),
		advertiser: os.Getenv("TIKTOK_ADVERTISER_ID"), source: os.Getenv("TIKTOK_EVENT_SOURCE"),
		sourceID: os.Getenv("TIKTOK_EVENT_SOURCE_ID"), testEventCode: os.Getenv("TIKTOK_TEST_EVENT_CODE"),
	}
	if env.token == "" || env.advertiser == "" || env.sourceID == "" {
		t.Skip("contract test against the real TikTok API skipped: set TIKTOK_ACCESS_TOKEN, TIKTOK_ADVERTISER_ID and TIKTOK_EVENT_SOURCE_ID (optional: TIKTOK_EVENT_SOURCE=web|offline, default offline; TIKTOK_TEST_EVENT_CODE; TIKTOK_API_BASE)")
	}
	if env.base == "" {
		env.base = tiktokclient.DefaultAPIBase
	}
	if env.source == "" {
		env.source = "offline"
	}
	runContract(t, env)
}

func runContract(t *testing.T, env contractEnv) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := func(token string) *tiktokclient.Client {
		c, err := tiktokclient.New(tiktokclient.WithBaseURL(env.base), tiktokclient.WithTokenSource(tiktokclient.StaticToken(token)),
			tiktokclient.WithMaxElapsed(30*time.Second), tiktokclient.WithCheckMaxElapsed(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := client(env.token)
	target := tiktokclient.Target{AdvertiserID: env.advertiser, EventSource: env.source, EventSourceID: env.sourceID}

	t.Run("check passes", func(t *testing.T) {
		if err := c.Check(ctx, target); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("check names a wrong event source", func(t *testing.T) {
		wrong := target
		wrong.EventSourceID = "1000000000000000001"
		err := c.Check(ctx, wrong)
		if err == nil || !strings.Contains(err.Error(), "event_source_id 1000000000000000001") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("valid events are accepted", func(t *testing.T) {
		now := time.Now().Unix() - 60
		var evs []json.RawMessage
		for i := range 3 {
			page := ""
			if env.source == "web" {
				page = `,"page":{"url":"https://example.com/contract"}`
			}
			evs = append(evs, json.RawMessage(fmt.Sprintf(`{"event":"Purchase","event_time":%d,"event_id":"contract-%d-%d","user":{"email":"%s"},"properties":{"currency":"USD","value":1.5}%s}`, now, now, i, hashA, page)))
		}
		res, err := c.Send(ctx, tiktokclient.Request{EventSource: env.source, EventSourceID: env.sourceID, TestEventCode: env.testEventCode, Events: evs})
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range res.Outcomes {
			if o.Status != tiktokclient.Accepted || o.RequestID == "" {
				t.Fatalf("event %d: %+v", i, o)
			}
		}
	})
	t.Run("a wrong token pauses, rejects nothing", func(t *testing.T) {
		res, err := client("not-a-real-token-0000").Send(ctx, tiktokclient.Request{EventSource: env.source, EventSourceID: env.sourceID, Events: events(env.source, 2)})
		var ce *tiktokclient.CredentialError
		if !errors.As(err, &ce) || count(res, tiktokclient.Rejected) != 0 {
			t.Fatalf("err = %v, outcomes %+v", err, res.Outcomes)
		}
		if strings.Contains(err.Error(), "not-a-real-token") {
			t.Fatal("the error carries the token")
		}
	})
}
