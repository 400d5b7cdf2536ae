package tiktokclient_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// fakeClock advances on Sleep instead of waiting, and records each wait. Share it
// with the server (WithClock(fc.Now)) so that rate-limit windows move with retries.
// It is a TimerClock: the client's request timeouts run on it, and fire only when
// Sleep or Advance moves it past them, so no attempt times out by the wall clock.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
	onWait func()
	timers []*fakeTimer
}

type fakeTimer struct {
	at   time.Time
	f    func()
	done bool // fired or stopped
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 11, 24, 10, 0, 0, 0, time.UTC)} }

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.sleeps = append(f.sleeps, d)
	hook := f.onWait
	f.mu.Unlock()
	f.Advance(d)
	if hook != nil {
		hook()
	}
	return ctx.Err()
}

// Advance moves the clock by d and fires the timers that are then due.
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	var due []func()
	live := f.timers[:0]
	for _, tm := range f.timers {
		switch {
		case tm.done:
		case !tm.at.After(f.t):
			tm.done = true
			due = append(due, tm.f)
		default:
			live = append(live, tm)
		}
	}
	f.timers = live
	f.mu.Unlock()
	for _, fn := range due {
		fn()
	}
}

func (f *fakeClock) AfterFunc(d time.Duration, fn func()) func() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	tm := &fakeTimer{at: f.t.Add(d), f: fn}
	f.timers = append(f.timers, tm)
	return func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		stopped := !tm.done
		tm.done = true
		return stopped
	}
}

func (f *fakeClock) Sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

// timeOutHangs times out, on clk, every attempt the server holds (HangNext): each
// time the server starts to hold one, it moves clk by d, the client's request
// timeout. It stops when the test ends.
func timeOutHangs(t *testing.T, srv *tiktoktest.Server, clk *fakeClock, d time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for n := 1; srv.WaitHanging(ctx, n) == nil; n++ {
			clk.Advance(d)
		}
	}()
}

const hashA = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"

// events builds n valid events for the source, with ids ev-0 … ev-(n-1).
func events(src string, n int) []json.RawMessage {
	out := make([]json.RawMessage, n)
	for i := range out {
		page := ""
		if src == "web" {
			page = `,"page":{"url":"https://shop.example/checkout"}`
		}
		out[i] = json.RawMessage(fmt.Sprintf(`{"event":"Purchase","event_time":1763980000,"event_id":"ev-%d","user":{"email":"%s"},"properties":{"currency":"USD","value":59.97}%s}`, i, hashA, page))
	}
	return out
}

func offlineRequest(n int) tiktokclient.Request {
	return tiktokclient.Request{EventSource: "offline", EventSourceID: tiktoktest.DefaultEventSetID, Events: events("offline", n)}
}

// newClient builds a client against srv with the fake clock and the default token.
func newClient(t testing.TB, srv *tiktoktest.Server, clk tiktokclient.Clock, opts ...tiktokclient.Option) *tiktokclient.Client {
	t.Helper()
	base := []tiktokclient.Option{
		tiktokclient.WithBaseURL(srv.URL),
		tiktokclient.WithTokenSource(tiktokclient.StaticToken(tiktoktest.DefaultToken)),
		tiktokclient.WithLimiter(tiktokclient.NewLimiter(1e6)),
	}
	if clk != nil {
		base = append(base, tiktokclient.WithClock(clk))
	}
	c, err := tiktokclient.New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func count(res tiktokclient.Result, st tiktokclient.Status) int {
	n := 0
	for _, o := range res.Outcomes {
		if o.Status == st {
			n++
		}
	}
	return n
}

func assertNoSecret(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s carries a secret (%q…): %s", where, s[:4], text)
		}
	}
}
