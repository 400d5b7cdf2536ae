package tiktokclient_test

import (
	"context"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

func TestLimiterAIMD(t *testing.T) {
	l := tiktokclient.NewLimiter(100)
	l.Throttled()
	if l.Rate() != 50 {
		t.Fatalf("after a throttle: %v, want 50", l.Rate())
	}
	l.Throttled() // answers to one burst arrive together: counted once
	if l.Rate() != 50 {
		t.Fatalf("second throttle within the cooldown: %v", l.Rate())
	}
	for range 10 {
		l.Succeeded()
	}
	if l.Rate() != 60 {
		t.Fatalf("after 10 successes: %v, want 60 (+1 %% of max each)", l.Rate())
	}
	for range 100 {
		l.Succeeded()
	}
	if l.Rate() != 100 {
		t.Fatalf("ceiling: %v", l.Rate())
	}
}

// TikTok's app limit (40100) shrinks the shared limiter, retries wait ≥ 1 s, and
// every event still goes through once the window moves on.
func TestRateLimitedByTikTok(t *testing.T) {
	clk := newFakeClock()
	srv := tiktoktest.NewServer(tiktoktest.WithClock(clk.Now), tiktoktest.WithRateLimit(2))
	defer srv.Close()
	lim := tiktokclient.NewLimiter(1000)
	c := newClient(t, srv, clk, tiktokclient.WithLimiter(lim), tiktokclient.WithInitialInterval(10*time.Millisecond))
	for i := range 6 {
		res, err := c.Send(context.Background(), offlineRequest(1))
		if err != nil || count(res, tiktokclient.Accepted) != 1 {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if n := srv.CodeCounts()[40100]; n == 0 {
		t.Fatal("the server never rate-limited: the test proves nothing")
	}
	if lim.Rate() >= lim.Max() {
		t.Fatalf("limiter at %v after 40100s, want below %v", lim.Rate(), lim.Max())
	}
	for _, d := range clk.Sleeps() {
		if d < time.Second {
			t.Fatalf("waited %v after 40100, want ≥ 1s", d)
		}
	}
}

// The limiter bounds the request rate of all clients that share it.
func TestSharedLimiterBoundsRate(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	lim := tiktokclient.NewLimiter(50) // burst 1
	a := newClient(t, srv, nil, tiktokclient.WithLimiter(lim))
	b := newClient(t, srv, nil, tiktokclient.WithLimiter(lim))
	start := time.Now()
	for range 5 {
		for _, c := range []*tiktokclient.Client{a, b} {
			if _, err := c.Send(context.Background(), offlineRequest(1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// 10 requests at 50/s with a burst of 1: at least 9 gaps of 20 ms.
	if el := time.Since(start); el < 170*time.Millisecond {
		t.Fatalf("10 requests in %v, faster than the shared 50/s", el)
	}
}
