package tiktokclient_test

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// Every error says what actually happened: an HTTP status, a code, no answer at
// all — and a transient failure never reads like refused credentials.
func TestErrorWording(t *testing.T) {
	const tries = `\(\d+ over (?:[0-9]+h)?(?:[0-9]+m)?[0-9.]+m?s, delivery\.max_elapsed 1m0s\); giving up for now`
	cases := []struct {
		name     string
		setup    func(srv *tiktoktest.Server) (base string)
		opts     []tiktokclient.Option
		gaveUp   bool   // else a *CredentialError
		want     string // regexp, matched against the whole text
		wantCode int    // CredentialError.Code
	}{
		{"HTTP 503 exhausted", func(s *tiktoktest.Server) string { s.FailNext(1000, 503); return s.URL }, nil, true,
			`^TikTok answered HTTP 503 Service Unavailable on every attempt ` + tries + `: Service Unavailable \(request_id \d+\)$`, 0},
		{"HTTP 429 exhausted", func(s *tiktoktest.Server) string { s.FailNext(1000, 429); return s.URL }, nil, true,
			`^TikTok answered HTTP 429 Too Many Requests on every attempt ` + tries + `: Too Many Requests \(request_id \d+\)$`, 0},
		{"network error exhausted", func(s *tiktoktest.Server) string {
			down := tiktoktest.NewServer()
			down.Close()
			return down.URL
		}, nil, true,
			`^TikTok could not be reached on every attempt ` + tries + `: Post "http://127\.0\.0\.1:\d+/open_api/v1\.3/event/track/": dial tcp .*connection refused$`, 0},
		{"timeout exhausted", func(s *tiktoktest.Server) string { s.HangNext(1000); return s.URL },
			[]tiktokclient.Option{tiktokclient.WithRequestTimeout(20 * time.Millisecond)}, true,
			`^TikTok did not answer within the request timeout \(20ms, tiktok\.request_timeout\) on every attempt ` + tries + `: Post .*deadline exceeded.*$`, 0},
		{"retry code 50002 exhausted", func(s *tiktoktest.Server) string { s.FailNext(1000, 50002); return s.URL }, nil, true,
			`^TikTok answered code 50002 on every attempt ` + tries + `: Service is temporarily unavailable, please retry later\. \(request_id \d+\)$`, 0},
		{"rate limit 40100 exhausted", func(s *tiktoktest.Server) string { s.FailNext(1000, 40100); return s.URL }, nil, true,
			`^TikTok answered code 40100 \(a rate limit\) on every attempt ` + tries + `: Requests made too frequently\. Please try again later\. \(request_id \d+\)$`, 0},
		{"mixed failures exhausted", func(s *tiktoktest.Server) string { s.FailNext(1, 503); s.FailNext(1000, 50002); return s.URL }, nil, true,
			`^TikTok failed every attempt \(\d+ over (?:[0-9]+h)?(?:[0-9]+m)?[0-9.]+m?s, delivery\.max_elapsed 1m0s\); giving up for now; the last: TikTok answered code 50002: Service is temporarily unavailable, please retry later\. \(request_id \d+\)$`, 0},
		{"credential code 40105", func(s *tiktoktest.Server) string { s.RevokeToken(tiktoktest.DefaultToken); return s.URL }, nil, false,
			`^TikTok refused the access token \(code 40105: Access token is incorrect or has been revoked\., request_id \d+\); check the access token \(tiktok\.access_token_env\), or the refresh flow's app_id, app secret and refresh token$`, 40105},
		{"configuration code 40001", func(s *tiktoktest.Server) string { s.FailNext(1, 40001); return s.URL }, nil, false,
			`^TikTok refused the credentials or configuration \(code 40001: No permission to operate\., request_id \d+\); check the destination's advertiser_id and event_source_id and what the access token may use$`, 40001},
		{"unknown code", func(s *tiktoktest.Server) string { s.FailNext(1, 41234); return s.URL }, nil, false,
			`^TikTok answered code 41234, which the Events API does not document \(Error\., request_id \d+\); it is treated as a credential or configuration problem, so no event is rejected: check the access token and the destination's advertiser_id and event_source_id$`, 41234},
		{"HTTP 404", func(s *tiktoktest.Server) string { s.FailNext(1, 404); return s.URL }, nil, false,
			`^TikTok answered HTTP 404 Not Found: Not Found; check tiktok\.api_base \(request_id \d+\); no event is at fault$`, 404},
		{"bad API base", func(s *tiktoktest.Server) string { return "http://[::1" }, nil, false,
			`^tiktok client configuration: bad API base: .*$`, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := tiktoktest.NewServer()
			defer srv.Close()
			base := tc.setup(srv)
			opts := append([]tiktokclient.Option{tiktokclient.WithBaseURL(base), tiktokclient.WithInitialInterval(time.Second),
				tiktokclient.WithMaxElapsed(time.Minute)}, tc.opts...)
			clk := newFakeClock()
			c := newClient(t, srv, clk, opts...)
			timeOutHangs(t, srv, clk, 20*time.Millisecond) // the request timeout of "timeout exhausted"
			res, err := c.Send(context.Background(), offlineRequest(3))
			if err == nil || count(res, tiktokclient.Unsettled) != 3 {
				t.Fatalf("err %v, outcomes %+v", err, res.Outcomes)
			}
			var ce *tiktokclient.CredentialError
			isCred := errors.As(err, &ce)
			if errors.Is(err, tiktokclient.ErrGaveUp) != tc.gaveUp || isCred == tc.gaveUp {
				t.Fatalf("ErrGaveUp %v, CredentialError %v; want gave up = %v: %v", errors.Is(err, tiktokclient.ErrGaveUp), isCred, tc.gaveUp, err)
			}
			if isCred && ce.Code != tc.wantCode {
				t.Fatalf("code %d, want %d", ce.Code, tc.wantCode)
			}
			if !regexp.MustCompile(tc.want).MatchString(err.Error()) {
				t.Fatalf("error text\n  %s\ndoes not match\n  %s", err, tc.want)
			}
			assertNoSecret(t, "error", err.Error(), tiktoktest.DefaultToken)
		})
	}
}

// The connection check names its own limit when it gives up.
func TestCheckGaveUpWording(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	down := tiktoktest.NewServer()
	down.Close()
	c := newClient(t, srv, newFakeClock(), tiktokclient.WithBaseURL(down.URL), tiktokclient.WithInitialInterval(time.Second),
		tiktokclient.WithCheckMaxElapsed(10*time.Second))
	err := c.Check(context.Background(), tiktokclient.Target{AdvertiserID: tiktoktest.DefaultAdvertiserID, EventSource: "offline", EventSourceID: tiktoktest.DefaultEventSetID})
	want := `^checking advertiser_id \d+: TikTok could not be reached on every attempt \(\d+ over [0-9.]+s, the connection check's limit 10s\); giving up for now: Get "http://127\.0\.0\.1:\d+/open_api/v1\.3/advertiser/info/": dial tcp .*$`
	if !errors.Is(err, tiktokclient.ErrGaveUp) || !regexp.MustCompile(want).MatchString(err.Error()) {
		t.Fatalf("err %v", err)
	}
}
