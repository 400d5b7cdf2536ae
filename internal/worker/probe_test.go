package worker_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// slowReleases is the real KV store whose releases take releaseDelay, as on a loaded
// machine, and which counts the Claim calls that start while a Release of one of
// their ids by the same owner is still under way: the two race on the key, and the
// Claim may find its own claim "held" or have it deleted right after winning it.
type slowReleases struct {
	dedup.Claimer
	releaseDelay time.Duration

	mu        sync.Mutex
	releasing map[string]int // owner/id → Release calls under way
	overlaps  atomic.Int64
}

func (s *slowReleases) Claim(ctx context.Context, dest, owner string, ids []string, lease time.Duration) ([]dedup.ClaimState, error) {
	s.mu.Lock()
	for _, id := range ids {
		if s.releasing[owner+"/"+id] > 0 {
			s.overlaps.Add(1)
		}
	}
	s.mu.Unlock()
	return s.Claimer.Claim(ctx, dest, owner, ids, lease)
}

func (s *slowReleases) Release(ctx context.Context, dest, owner string, ids []string) error {
	s.mu.Lock()
	for _, id := range ids {
		s.releasing[owner+"/"+id]++
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		for _, id := range ids {
			s.releasing[owner+"/"+id]--
		}
		s.mu.Unlock()
	}()
	// An injected store latency, not a wait for something.
	select {
	case <-time.After(s.releaseDelay):
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Claimer.Release(ctx, dest, owner, ids)
}

// TestProbeFollowsHandBackRelease: when the store is slow, the release of the paused
// batch's claims is still running when the probe is due (ProbeMin 50 ms, releases
// 300 ms). The probe's Claim of its event must wait for it: racing it made the probe
// find its own claim "held", resume blind and pause again — two "paused" and two
// "resumed" lines for one credential problem, and readiness flapping.
func TestProbeFollowsHandBackRelease(t *testing.T) {
	e := newEnv(t, nil)
	e.tt.RevokeToken(tiktoktest.DefaultToken)
	e.publishMany(offline, "s", 20)
	d := e.deps("a")
	store := &slowReleases{Claimer: d.Dedup.(dedup.Claimer), releaseDelay: 300 * time.Millisecond, releasing: map[string]int{}}
	d.Dedup = store
	w, err := newWorkerWith(d, e.options())
	if err != nil {
		t.Fatal(err)
	}
	e.start(w)

	waitFor(t, "several probes", 15*time.Second, func() bool { return e.tt.Stats().Codes[40105] >= 4 })
	if n := store.overlaps.Load(); n != 0 {
		t.Errorf("%d Claim calls raced a Release of the same ids by the same owner", n)
	}
	logs := e.logs.String()
	if n := countLines(logs, "destination "+offline+" paused"); n != 1 {
		t.Errorf("%d log lines say %s paused, want exactly 1", n, offline)
	}
	if n := countLines(logs, "destination "+offline+" resumed"); n != 0 {
		t.Errorf("%d log lines say %s resumed while the token is still refused, want 0", n, offline)
	}

	e.tt.RestoreToken(tiktoktest.DefaultToken)
	s := e.waitSettled(20*time.Second, w)
	e.noRepeats()
	if s.Sent+s.Duplicates != 20 || s.DeadLetteredTotal() != 0 {
		t.Errorf("sent %d, duplicates %d, dead-lettered %d; want all 20 delivered", s.Sent, s.Duplicates, s.DeadLetteredTotal())
	}
	if n := countLines(e.logs.String(), "destination "+offline+" resumed"); n != 1 {
		t.Errorf("%d log lines say %s resumed, want 1", n, offline)
	}
}

// heldByOther is the real KV store in which, once armed, another replica ("b") holds
// the id of the next heldTimes single-id Claims (the probe's) while they run.
type heldByOther struct {
	dedup.Claimer
	armed     func() bool
	heldTimes atomic.Int64
	held      atomic.Int64
}

func (s *heldByOther) Claim(ctx context.Context, dest, owner string, ids []string, lease time.Duration) ([]dedup.ClaimState, error) {
	if len(ids) != 1 || !s.armed() || s.heldTimes.Add(-1) < 0 {
		return s.Claimer.Claim(ctx, dest, owner, ids, lease)
	}
	if _, err := s.Claimer.Claim(ctx, dest, "b", ids, lease); err != nil {
		return nil, err
	}
	defer func() { _ = s.Claimer.Release(context.WithoutCancel(ctx), dest, "b", ids) }()
	st, err := s.Claimer.Claim(ctx, dest, owner, ids, lease)
	if err == nil && st[0] == dedup.Held {
		s.held.Add(1)
	}
	return st, err
}

// TestProbeEventHeldElsewhere: while another replica holds the probe event's id, a
// destination without a connection check probes it again later instead of resuming
// blind (which only pauses it again on the next batch).
func TestProbeEventHeldElsewhere(t *testing.T) {
	e := newEnv(t, nil)
	e.tt.RevokeToken(tiktoktest.DefaultToken)
	e.publish(offline, row("h-0", 0))
	d := e.deps("a")
	store := &heldByOther{Claimer: d.Dedup.(dedup.Claimer), armed: func() bool { return e.tt.Stats().Codes[40105] >= 1 }}
	store.heldTimes.Store(2)
	d.Dedup = store
	w, err := newWorkerWith(d, e.options())
	if err != nil {
		t.Fatal(err)
	}
	e.start(w)

	waitFor(t, "the probe sent after the event was held twice", 15*time.Second, func() bool {
		return store.held.Load() == 2 && e.tt.Stats().Codes[40105] >= 2
	})
	logs := e.logs.String()
	if n := countLines(logs, "destination "+offline+" paused"); n != 1 {
		t.Errorf("%d log lines say %s paused, want exactly 1", n, offline)
	}
	if n := countLines(logs, "destination "+offline+" resumed"); n != 0 {
		t.Errorf("%d log lines say %s resumed while its probe event was held elsewhere and the token refused, want 0", n, offline)
	}
	if _, reasons := w.Ready(); len(reasons) != 1 || !strings.Contains(reasons[0], "40105") {
		t.Errorf("Ready reasons %q: want the destination paused with code 40105", reasons)
	}

	e.tt.RestoreToken(tiktoktest.DefaultToken)
	s := e.waitSettled(20*time.Second, w)
	e.noRepeats()
	if s.Sent+s.Duplicates != 1 || s.DeadLetteredTotal() != 0 {
		t.Errorf("sent %d, duplicates %d, dead-lettered %d; want the row delivered", s.Sent, s.Duplicates, s.DeadLetteredTotal())
	}
}
