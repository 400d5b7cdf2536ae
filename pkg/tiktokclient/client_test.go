package tiktokclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

func TestClassify(t *testing.T) {
	cases := map[tiktokclient.Class][]int{
		tiktokclient.ClassSuccess:    {0, 20001},
		tiktokclient.ClassRetry:      {40100, 40016, 40133, 40132, 40202, 50000, 50002, 51000, 51234, 51999, 52000, 52999, 60001, 61000},
		tiktokclient.ClassBadEvents:  {40000, 40002, 40061, 40062},
		tiktokclient.ClassCredential: {40001, 40006, 40063, 40101, 40102, 40104, 40105, 40106, 40107, 40113, 40118, 40119, 40125, 40130, 40300, 40301, 40003, 49999, 53000, 1, -1},
	}
	for want, codes := range cases {
		for _, code := range codes {
			if got := tiktokclient.Classify(code); got != want {
				t.Errorf("Classify(%d) = %s, want %s", code, got, want)
			}
		}
	}
	for status, want := range map[int]tiktokclient.Class{500: tiktokclient.ClassRetry, 502: tiktokclient.ClassRetry, 503: tiktokclient.ClassRetry, 429: tiktokclient.ClassRetry, 404: tiktokclient.ClassCredential, 401: tiktokclient.ClassCredential} {
		if got := tiktokclient.ClassifyHTTP(status); got != want {
			t.Errorf("ClassifyHTTP(%d) = %s, want %s", status, got, want)
		}
	}
}

func TestSendAcceptsAFullBatchInOneRequest(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	c := newClient(t, srv, newFakeClock())
	res, err := c.Send(context.Background(), offlineRequest(1000))
	if err != nil {
		t.Fatal(err)
	}
	if got := count(res, tiktokclient.Accepted); got != 1000 || res.Requests != 1 || res.Retries != 0 {
		t.Fatalf("accepted %d in %d requests (%d retries), want 1000 in 1", got, res.Requests, res.Retries)
	}
	acc := srv.Accepted()
	if len(acc) != 1000 || acc[0].EventID != "ev-0" || acc[0].RequestID != res.Outcomes[0].RequestID || acc[0].EventTime != 1763980000 {
		t.Fatalf("server recorded %d events, first %+v", len(acc), acc[0])
	}
}

// Each code family, injected once, has the effect SPEC §4 gives it.
func TestSendCodeFamilies(t *testing.T) {
	type want struct {
		err      string // "", "credential", "gaveup"
		accepted int
		retries  int
		minSleep time.Duration
	}
	cases := []struct {
		code int
		want want
	}{
		{0, want{accepted: 10}},
		{20001, want{accepted: 10}},
		{500, want{accepted: 10, retries: 1}},
		{503, want{accepted: 10, retries: 1}},
		{429, want{accepted: 10, retries: 1}},
		{40100, want{accepted: 10, retries: 1, minSleep: time.Second}},
		{40016, want{accepted: 10, retries: 1, minSleep: time.Second}},
		{40133, want{accepted: 10, retries: 1, minSleep: time.Second}},
		{40132, want{accepted: 10, retries: 1}},
		{40202, want{accepted: 10, retries: 1}},
		{50000, want{accepted: 10, retries: 1}},
		{50002, want{accepted: 10, retries: 1}},
		{51003, want{accepted: 10, retries: 1}},
		{52001, want{accepted: 10, retries: 1}},
		{60001, want{accepted: 10, retries: 1}},
		{61000, want{accepted: 10, retries: 1}},
		// A transient bad-events answer: bisection re-sends the halves, all good.
		{40000, want{accepted: 10}},
		{40002, want{accepted: 10}},
		{40061, want{accepted: 10}},
		{40062, want{accepted: 10}},
		{40001, want{err: "credential"}},
		{40006, want{err: "credential"}},
		{40063, want{err: "credential"}},
		{40101, want{err: "credential"}},
		{40102, want{err: "credential"}},
		{40104, want{err: "credential"}},
		{40105, want{err: "credential"}},
		{40106, want{err: "credential"}},
		{40107, want{err: "credential"}},
		{40113, want{err: "credential"}},
		{40118, want{err: "credential"}},
		{40119, want{err: "credential"}},
		{40125, want{err: "credential"}},
		{40130, want{err: "credential"}},
		{40300, want{err: "credential"}},
		{40301, want{err: "credential"}},
		{40999, want{err: "credential"}}, // unlisted
		{404, want{err: "credential"}},   // wrong api_base
	}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			srv := tiktoktest.NewServer()
			defer srv.Close()
			clk := newFakeClock()
			c := newClient(t, srv, clk, tiktokclient.WithInitialInterval(10*time.Millisecond))
			if tc.code != 0 {
				srv.FailNext(1, tc.code)
			}
			res, err := c.Send(context.Background(), offlineRequest(10))
			var ce *tiktokclient.CredentialError
			switch tc.want.err {
			case "credential":
				if !errors.As(err, &ce) || ce.Code != tc.code {
					t.Fatalf("err = %v, want *CredentialError with code %d", err, tc.code)
				}
				if count(res, tiktokclient.Rejected) != 0 || count(res, tiktokclient.Unsettled) != 10 {
					t.Fatalf("credential answer settled events: %+v", res.Outcomes[0])
				}
				return
			default:
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := count(res, tiktokclient.Accepted); got != tc.want.accepted || res.Retries != tc.want.retries {
				t.Fatalf("accepted %d with %d retries, want %d with %d", got, res.Retries, tc.want.accepted, tc.want.retries)
			}
			if tc.code != 20001 && srv.AcceptedCount() != 10 { // a faked 20001 records nothing
				t.Fatalf("server accepted %d", srv.AcceptedCount())
			}
			if tc.want.minSleep > 0 && (len(clk.Sleeps()) != 1 || clk.Sleeps()[0] < tc.want.minSleep) {
				t.Fatalf("waits %v, want one of at least %v", clk.Sleeps(), tc.want.minSleep)
			}
		})
	}
}

func TestRetriesThenSuccessBackOffExponentially(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	clk := newFakeClock()
	c := newClient(t, srv, clk, tiktokclient.WithInitialInterval(100*time.Millisecond))
	srv.FailNext(4, 503)
	res, err := c.Send(context.Background(), offlineRequest(5))
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 5 || res.Retries != 4 || count(res, tiktokclient.Accepted) != 5 {
		t.Fatalf("requests %d retries %d accepted %d", res.Requests, res.Retries, count(res, tiktokclient.Accepted))
	}
	s := clk.Sleeps()
	// ×2 growth with ±50 % jitter: the n-th wait lies in [0.5, 1.5] × 100ms × 2^n.
	for i, d := range s {
		base := 100 * time.Millisecond << i
		if d < base/2 || d > base*3/2 {
			t.Errorf("wait %d = %v, want within ±50%% of %v", i, d, base)
		}
	}
}

func TestRetriesExhaustedGiveUp(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	clk := newFakeClock()
	c := newClient(t, srv, clk, tiktokclient.WithInitialInterval(time.Second), tiktokclient.WithMaxElapsed(time.Minute))
	srv.FailNext(1000, 50002)
	res, err := c.Send(context.Background(), offlineRequest(3))
	if !errors.Is(err, tiktokclient.ErrGaveUp) {
		t.Fatalf("err = %v, want ErrGaveUp", err)
	}
	if count(res, tiktokclient.Unsettled) != 3 {
		t.Fatalf("outcomes %+v, want all unsettled", res.Outcomes)
	}
	var total time.Duration
	for _, d := range clk.Sleeps() {
		total += d
	}
	if total > time.Minute || res.Requests < 4 || res.Requests > 20 {
		t.Fatalf("waited %v over %d requests, want ≤ 1m", total, res.Requests)
	}
	if !strings.Contains(err.Error(), "50002") {
		t.Fatalf("error does not name the last failure: %v", err)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	clk := newFakeClock()
	c := newClient(t, srv, clk, tiktokclient.WithInitialInterval(10*time.Millisecond))
	srv.FailNextRetryAfter(1, 429, 7*time.Second)
	if _, err := c.Send(context.Background(), offlineRequest(1)); err != nil {
		t.Fatal(err)
	}
	if s := clk.Sleeps(); len(s) != 1 || s[0] < 7*time.Second {
		t.Fatalf("waits %v, want one of ≥ 7s", s)
	}
}

// An attempt the server never answers times out after the request timeout and is
// retried; the retry is accepted. The timeout runs on the client's clock, moved
// once the server holds the request, so a loaded machine can neither time out the
// retry nor delay the first timeout: a five-minute timeout on the wall clock would
// run into the test's minute.
func TestRequestTimeoutIsRetried(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	clk := newFakeClock()
	c := newClient(t, srv, clk, tiktokclient.WithRequestTimeout(5*time.Minute))
	srv.HangNext(1)
	timeOutHangs(t, srv, clk, 5*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := c.Send(ctx, offlineRequest(2))
	if err != nil || res.Requests != 2 || count(res, tiktokclient.Accepted) != 2 {
		t.Fatalf("err %v, requests %d, accepted %d", err, res.Requests, count(res, tiktokclient.Accepted))
	}
}

func TestContextCancellation(t *testing.T) {
	t.Run("in flight", func(t *testing.T) {
		srv := tiktoktest.NewServer()
		defer srv.Close()
		c := newClient(t, srv, newFakeClock())
		srv.HangNext(1)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			// Cancel once the request is in flight (held by the server).
			if srv.WaitHanging(ctx, 1) == nil {
				cancel()
			}
		}()
		res, err := c.Send(ctx, offlineRequest(2))
		if !errors.Is(err, context.Canceled) || count(res, tiktokclient.Unsettled) != 2 || srv.AcceptedCount() != 0 {
			t.Fatalf("err %v, outcomes %+v", err, res.Outcomes)
		}
	})
	t.Run("while backing off", func(t *testing.T) {
		srv := tiktoktest.NewServer()
		defer srv.Close()
		clk := newFakeClock()
		ctx, cancel := context.WithCancel(context.Background())
		clk.onWait = cancel
		c := newClient(t, srv, clk)
		srv.FailNext(5, 503)
		res, err := c.Send(ctx, offlineRequest(2))
		if !errors.Is(err, context.Canceled) || res.Requests != 1 || count(res, tiktokclient.Unsettled) != 2 {
			t.Fatalf("err %v, requests %d", err, res.Requests)
		}
	})
	t.Run("settled events keep their outcome", func(t *testing.T) {
		// The whole request is refused for a bad event; the left half goes through;
		// then TikTok stops answering. The left half stays Accepted, the rest Unsettled.
		sandbox := tiktoktest.New()
		sandbox.PoisonEvent("ev-3")
		var n atomic.Int32
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) > 2 {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			sandbox.ServeHTTP(w, r)
		}))
		defer hs.Close()
		c, err := tiktokclient.New(tiktokclient.WithBaseURL(hs.URL), tiktokclient.WithClock(newFakeClock()),
			tiktokclient.WithTokenSource(tiktokclient.StaticToken(tiktoktest.DefaultToken)), tiktokclient.WithMaxElapsed(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Send(context.Background(), offlineRequest(4))
		if !errors.Is(err, tiktokclient.ErrGaveUp) {
			t.Fatalf("err = %v", err)
		}
		want := []tiktokclient.Status{tiktokclient.Accepted, tiktokclient.Accepted, tiktokclient.Unsettled, tiktokclient.Unsettled}
		for i, o := range res.Outcomes {
			if o.Status != want[i] {
				t.Fatalf("outcome %d = %s, want %s", i, o.Status, want[i])
			}
		}
	})
}

func TestCredentialPauseNothingRejected(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	c := newClient(t, srv, newFakeClock())
	srv.RevokeToken(tiktoktest.DefaultToken)
	res, err := c.Send(context.Background(), offlineRequest(50))
	var ce *tiktokclient.CredentialError
	if !errors.As(err, &ce) || ce.Code != 40105 || ce.Message != "Access token is incorrect or has been revoked." || ce.RequestID == "" {
		t.Fatalf("err = %#v", err)
	}
	if count(res, tiktokclient.Unsettled) != 50 || res.Requests != 1 {
		t.Fatalf("a credential answer settled events or was retried: %d requests", res.Requests)
	}
	srv.RestoreToken(tiktoktest.DefaultToken)
	if res, err = c.Send(context.Background(), offlineRequest(50)); err != nil || count(res, tiktokclient.Accepted) != 50 {
		t.Fatalf("after restore: %v", err)
	}
	// An unknown event source is a configuration problem, not 50 bad events.
	bad := offlineRequest(50)
	bad.EventSourceID = "111"
	res, err = c.Send(context.Background(), bad)
	if !errors.As(err, &ce) || ce.Code != 40002 || ce.Field != tiktokclient.FieldEventSourceID || count(res, tiktokclient.Rejected) != 0 || res.Requests != 1 {
		t.Fatalf("unknown event set: err %v after %d requests", err, res.Requests)
	}
}

// The request is what SPEC §4 says: path, method, headers, no compression.
func TestRequestShape(t *testing.T) {
	sandbox := tiktoktest.New()
	var mu sync.Mutex
	var got *http.Request
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Clone(context.Background())
		mu.Unlock()
		sandbox.ServeHTTP(w, r)
	}))
	defer hs.Close()
	c, err := tiktokclient.New(tiktokclient.WithBaseURL(hs.URL+"/"), tiktokclient.WithTokenSource(tiktokclient.StaticToken(tiktoktest.DefaultToken)))
	if err != nil {
		t.Fatal(err)
	}
	req := offlineRequest(1)
	req.TestEventCode = "TEST123"
	if _, err := c.Send(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got.Method != http.MethodPost || got.URL.Path != "/open_api/v1.3/event/track/" {
		t.Errorf("%s %s", got.Method, got.URL.Path)
	}
	if got.Header.Get("Access-Token") != tiktoktest.DefaultToken || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", got.Header)
	}
	if ua := got.Header.Get("User-Agent"); !strings.HasPrefix(ua, "tiktok-events-worker/") {
		t.Errorf("User-Agent %q", ua)
	}
	if got.Header.Get("Content-Encoding") != "" || got.Header.Get("Accept-Encoding") != "" {
		t.Errorf("compression headers: %v", got.Header)
	}
	if acc := sandbox.Accepted(); len(acc) != 1 || acc[0].TestEventCode != "TEST123" {
		t.Errorf("accepted %+v", acc)
	}
}

// One client serves many senders at once (run with -race).
func TestSendConcurrently(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	c := newClient(t, srv, newFakeClock())
	srv.FailNext(3, 503)
	srv.PoisonEvent("ev-7")
	var wg sync.WaitGroup
	var accepted, rejected atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				res, err := c.Send(context.Background(), offlineRequest(100))
				if err != nil {
					t.Error(err)
					return
				}
				accepted.Add(int64(count(res, tiktokclient.Accepted)))
				rejected.Add(int64(count(res, tiktokclient.Rejected)))
			}
		}()
	}
	wg.Wait()
	if accepted.Load() != 40*99 || rejected.Load() != 40 {
		t.Fatalf("accepted %d rejected %d, want %d and 40", accepted.Load(), rejected.Load(), 40*99)
	}
	if st := srv.Stats(); st.Accepted+st.Deduplicated != 40*99 {
		t.Fatalf("server: %+v", st)
	}
}
