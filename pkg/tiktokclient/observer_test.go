package tiktokclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// recorder is an observer that keeps every Response.
type recorder struct {
	mu  sync.Mutex
	got []tiktokclient.Response
}

func (r *recorder) observe(resp tiktokclient.Response) {
	r.mu.Lock()
	r.got = append(r.got, resp)
	r.mu.Unlock()
}

func (r *recorder) all() []tiktokclient.Response {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]tiktokclient.Response(nil), r.got...)
}

// byCode counts answers as a metric would: TikTok's code of an HTTP 200 envelope,
// the HTTP status otherwise, -1 for no answer (the sandbox counts the same way).
func byCode(rs []tiktokclient.Response) map[int]int {
	m := map[int]int{}
	for _, r := range rs {
		switch {
		case r.HTTPStatus == 0:
			m[-1]++
		case r.HTTPStatus != http.StatusOK || r.Err != nil:
			m[r.HTTPStatus]++
		default:
			m[r.Code]++
		}
	}
	return m
}

// The observer hears every HTTP answer once — retries and bisection included — with
// TikTok's code, the events of that request and the class, where Send's outcome
// codes alone would count one 40002 and no retry at all.
func TestObserverCountsEveryAnswer(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	var rec recorder
	var second recorder
	c := newClient(t, srv, newFakeClock(), tiktokclient.WithInitialInterval(10*time.Millisecond),
		tiktokclient.WithObserver(rec.observe), tiktokclient.WithObserver(second.observe))
	srv.FailNext(1, 503)
	srv.FailNext(1, 50002)
	srv.PoisonEvent("ev-5")
	res, err := c.Send(context.Background(), offlineRequest(16))
	if err != nil || count(res, tiktokclient.Rejected) != 1 || count(res, tiktokclient.Accepted) != 15 {
		t.Fatalf("err %v, outcomes %+v", err, res.Outcomes)
	}
	got := rec.all()
	if len(got) != res.Requests || len(got) != srv.Requests() || len(second.all()) != len(got) {
		t.Fatalf("observed %d (second observer %d), Result.Requests %d, sandbox %d", len(got), len(second.all()), res.Requests, srv.Requests())
	}
	// 503 and 50002 retried; 16 → 40002; bisection around ev-5: [0,8) 40002,
	// [0,4) ok, [4,8) known bad unsent, [4,6) 40002, [4] ok, [5] 40002, [6,8) ok, [8,16) ok.
	want := map[int]int{503: 1, 50002: 1, 40002: 4, 0: 4}
	if c := byCode(got); !reflect.DeepEqual(c, want) || !reflect.DeepEqual(c, srv.CodeCounts()) {
		t.Fatalf("observed codes %v, want %v (sandbox %v)", c, want, srv.CodeCounts())
	}
	var events []int
	for _, r := range got {
		events = append(events, r.Events)
		if r.Path != tiktokclient.TrackPath || r.EventSourceID != tiktoktest.DefaultEventSetID || r.Err != nil || r.Took < 0 {
			t.Fatalf("response %+v", r)
		}
		wantClass := tiktokclient.Classify(r.Code)
		if r.HTTPStatus != http.StatusOK {
			wantClass = tiktokclient.ClassifyHTTP(r.HTTPStatus)
		}
		if r.Class != wantClass {
			t.Fatalf("response %+v: class %s, want %s", r, r.Class, wantClass)
		}
	}
	if want := []int{16, 16, 16, 8, 4, 2, 1, 1, 2, 8}; !reflect.DeepEqual(events, want) {
		t.Fatalf("events per request %v, want %v", events, want)
	}
}

// A request that never answers is observed with no status and its error; Took is
// measured by the client's clock.
func TestObserverSeesNetworkErrors(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	var rec recorder
	clk := newFakeClock()
	c := newClient(t, srv, clk, tiktokclient.WithRequestTimeout(50*time.Millisecond), tiktokclient.WithInitialInterval(time.Millisecond),
		tiktokclient.WithObserver(rec.observe))
	srv.HangNext(1)
	timeOutHangs(t, srv, clk, 50*time.Millisecond)
	res, err := c.Send(context.Background(), offlineRequest(3))
	if err != nil || res.Requests != 2 {
		t.Fatalf("err %v, requests %d", err, res.Requests)
	}
	got := rec.all()
	if len(got) != 2 || got[0].HTTPStatus != 0 || got[0].Err == nil || got[0].Class != tiktokclient.ClassRetry ||
		got[0].Events != 3 || got[0].EventSourceID != tiktoktest.DefaultEventSetID || got[0].Took < 50*time.Millisecond {
		t.Fatalf("first %+v", got[0])
	}
	if got[1].HTTPStatus != 200 || got[1].Code != 0 || got[1].Err != nil || got[1].Class != tiktokclient.ClassSuccess {
		t.Fatalf("second %+v", got[1])
	}
	assertNoSecret(t, "observed error", fmt.Sprint(got[0].Err), tiktoktest.DefaultToken)
}

// Check's calls are observed too, by path, with no events and no event source id.
func TestObserverSeesCheckCalls(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	var rec recorder
	c := newClient(t, srv, newFakeClock(), tiktokclient.WithObserver(rec.observe))
	err := c.Check(context.Background(), tiktokclient.Target{AdvertiserID: tiktoktest.DefaultAdvertiserID,
		EventSource: "web", EventSourceID: tiktoktest.DefaultPixelCode})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, r := range rec.all() {
		paths = append(paths, r.Path)
		if r.Events != 0 || r.EventSourceID != "" || r.Code != 0 || r.HTTPStatus != 200 {
			t.Fatalf("%+v", r)
		}
	}
	if want := []string{tiktokclient.AdvertiserInfoPath, tiktokclient.PixelListPath}; !reflect.DeepEqual(paths, want) {
		t.Fatalf("paths %v, want %v", paths, want)
	}
}

// An outage is heard while it lasts: each failed attempt reaches the observer before
// the client waits to retry it, saying it will be retried, which attempt it was, when
// the request's first attempt began and how long the wait is; the answer that ends
// the retries says it will not be.
func TestObserverHearsRetriesAsTheyHappen(t *testing.T) {
	cases := []struct {
		name      string
		failures  int
		elapsed   time.Duration // max elapsed
		gaveUp    bool
		attempts  int
		lastClass tiktokclient.Class
	}{
		{"outage that ends", 3, time.Minute, false, 4, tiktokclient.ClassSuccess},
		{"outage that outlasts max elapsed", 1000, 5 * time.Second, true, 0, tiktokclient.ClassRetry},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := tiktoktest.NewServer()
			defer srv.Close()
			srv.FailNext(tc.failures, 503)
			clk := newFakeClock()
			start := clk.Now()
			var rec recorder
			var seenAtSleep []int
			clk.onWait = func() { seenAtSleep = append(seenAtSleep, len(rec.all())) }
			c := newClient(t, srv, clk, tiktokclient.WithInitialInterval(time.Second), tiktokclient.WithMaxElapsed(tc.elapsed),
				tiktokclient.WithObserver(rec.observe))
			_, err := c.Send(context.Background(), offlineRequest(3))
			if errors.Is(err, tiktokclient.ErrGaveUp) != tc.gaveUp {
				t.Fatalf("err %v, want gave up %v", err, tc.gaveUp)
			}
			got := rec.all()
			sleeps := clk.Sleeps()
			if tc.attempts > 0 && len(got) != tc.attempts {
				t.Fatalf("observed %d attempts, want %d", len(got), tc.attempts)
			}
			if len(sleeps) != len(got)-1 {
				t.Fatalf("%d waits for %d attempts", len(sleeps), len(got))
			}
			for k, n := range seenAtSleep {
				if n != k+1 {
					t.Fatalf("at wait %d the observer had heard %d attempts, want %d: retries must be heard as they happen", k+1, n, k+1)
				}
			}
			for i, r := range got {
				last := i == len(got)-1
				if r.Attempt != i+1 || !r.FirstAttempt.Equal(start) || r.Retry == last {
					t.Fatalf("response %d: attempt %d, first attempt %v (want %v), retry %v", i, r.Attempt, r.FirstAttempt, start, r.Retry)
				}
				if !last && (r.RetryIn != sleeps[i] || r.Class != tiktokclient.ClassRetry || r.HTTPStatus != 503) {
					t.Fatalf("response %d: %+v, want a 503 retried after the wait %s", i, r, sleeps[i])
				}
				if last && (r.Class != tc.lastClass || r.RetryIn != 0) {
					t.Fatalf("last response %+v, want class %s and no retry", r, tc.lastClass)
				}
			}
		})
	}
}

// A refused token that the client refreshes is heard as retried at once.
func TestObserverHearsTokenRefreshAsRetry(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	var rec recorder
	c := newClient(t, srv, newFakeClock(), tiktokclient.WithTokenSource(refreshSource(srv, nil, tiktoktest.DefaultAppSecret, tiktoktest.DefaultRefreshToken)),
		tiktokclient.WithObserver(rec.observe))
	srv.FailNext(1, 40105)
	if _, err := c.Send(context.Background(), offlineRequest(2)); err != nil {
		t.Fatal(err)
	}
	got := rec.all()
	if len(got) != 2 || got[0].Code != 40105 || !got[0].Retry || got[0].RetryIn != 0 || got[1].Attempt != 2 || got[1].Retry {
		t.Fatalf("observed %+v", got)
	}
}
