package worker_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// TestReplicasCopiesWhileOriginalsInFlight: two replicas on one consumer; copies of
// events arrive while their originals are still in flight in either replica. The
// stand-in, which drops and counts a repeat as TikTok does, must never see one: every
// copy is a duplicate, whichever replica holds it.
func TestReplicasCopiesWhileOriginalsInFlight(t *testing.T) {
	e := newEnv(t, []tiktoktest.Option{tiktoktest.WithLatency(250 * time.Millisecond)})
	o := e.options()
	o.PullBuffer, o.BatchSize = 50, 100 // small pulls: both replicas hold originals
	a, b := e.newWorker("a", o), e.newWorker("b", o)
	if a.Owner() == b.Owner() || a.Owner() == "" {
		t.Fatalf("owners %q and %q: each replica needs its own", a.Owner(), b.Owner())
	}
	e.start(a)
	e.start(b)
	const n = 600
	e.publishMany(offline, "cp", n)
	waitFor(t, "the first request in flight", 5*time.Second, func() bool { return e.tt.Requests() > 0 })
	e.publishMany(offline, "cp", n) // the same events again, originals still unacked
	s := e.waitSettled(30*time.Second, a, b)
	e.checkAccounting(a, b)
	e.noRepeats()
	if got := e.tt.AcceptedCount(); got != n {
		t.Errorf("the stand-in accepted %d events, want the %d unique ones", got, n)
	}
	if s.Sent != n || s.Duplicates != n {
		t.Errorf("sent %d rows, %d duplicates; want %d and %d (every copy a duplicate)", s.Sent, s.Duplicates, n, n)
	}
	if s.HandedBack == 0 {
		t.Error("no copy found its original held by the other replica: the test did not exercise claims")
	}
	t.Logf("a received %d rows, b %d; %d hand-backs", a.Stats().Total.Received, b.Stats().Total.Received, s.HandedBack)
}

// TestDrainReleasesClaims: a replica that drains with claimed rows still queued hands
// them back and releases their claims, so the next replica sends them at once instead
// of waiting out the lease (minutes).
func TestDrainReleasesClaims(t *testing.T) {
	e := newEnv(t, []tiktoktest.Option{tiktoktest.WithLatency(1500 * time.Millisecond)})
	const n = 200
	e.publishMany(offline, "dr", n)
	o := e.options()
	o.BatchSize, o.InFlight, o.PullBuffer = 20, 1, 40
	a := e.newWorker("a", o)
	ra := e.start(a)
	cons, err := e.js.Consumer(t.Context(), e.names.RowsStream, e.names.ConsumerName(offline))
	if err != nil {
		t.Fatal(err)
	}
	// One request in flight (1.5 s), two batches claimed and queued behind it.
	waitFor(t, "replica a holding claimed rows", 10*time.Second, func() bool {
		info, err := cons.Info(t.Context())
		return err == nil && info.NumAckPending >= 60 && e.tt.Requests() > 0
	})
	ra.stop(t)
	if a.Stats().Total.HandedBack == 0 {
		t.Fatal("replica a handed nothing back on its drain: the test did not exercise a release")
	}

	e.tt.SetLatency(0)
	b := e.newWorker("b", e.options())
	e.start(b)
	start := time.Now()
	e.waitSettled(8*time.Second, a, b) // the lease is over 90 s with these options
	t.Logf("replica b settled the handed-back rows in %v", time.Since(start).Round(time.Millisecond))
	s := e.checkAccounting(a, b)
	e.noRepeats()
	if s.SentEvents != n {
		t.Errorf("the stand-in accepted %d events, want %d", s.SentEvents, n)
	}
}

// TestCrashedReplicaClaimLapses: a replica that crashed left claims behind (written
// here directly, with another owner). Their events wait, handed back and never
// counted, until the lease lapses on the injected clock; then they are sent, once.
func TestCrashedReplicaClaimLapses(t *testing.T) {
	e := newEnv(t, nil)
	store := dedup.NewKV(e.js, e.names.DedupBucket, dedup.WithClock(e.now))
	var crashed []string
	for i := range 5 {
		crashed = append(crashed, fmt.Sprintf("crash-%d", i))
	}
	states, err := store.Claim(t.Context(), offline, "crashed-replica", crashed, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range states {
		if st != dedup.Won {
			t.Fatalf("claim %d = %v, want won", i, st)
		}
	}
	for i, id := range crashed {
		e.publish(offline, row(id, i))
	}
	e.publishMany(offline, "free", 20)
	w := e.newWorker("a", e.options())
	e.start(w)

	waitFor(t, "the free rows sent and the held ones handed back", 15*time.Second, func() bool {
		s := w.Stats().Total
		return s.Received == 20 && s.HandedBack >= 10 // each held row back at least twice
	})
	ids := e.acceptedIDs()
	for _, id := range crashed {
		if ids[id] != 0 {
			t.Errorf("event %s was sent while another replica's claim on it was live", id)
		}
	}
	if s := w.Stats().Total; s.Duplicates != 0 || s.DeadLetteredTotal() != 0 {
		t.Errorf("held rows were counted: %d duplicates, %v dead-lettered", s.Duplicates, s.DeadLettered)
	}
	if ok, _ := w.Ready(); !ok {
		t.Error("a held event made the destination not ready")
	}

	e.setNow(now.Add(2 * time.Minute)) // the crashed replica's lease lapses
	e.waitSettled(10*time.Second, w)
	s := e.checkAccounting(w)
	e.noRepeats()
	ids = e.acceptedIDs()
	for _, id := range crashed {
		if ids[id] != 1 {
			t.Errorf("event %s accepted %d times after the lease lapsed, want once", id, ids[id])
		}
	}
	if s.Sent != 25 {
		t.Errorf("sent %d rows, want 25", s.Sent)
	}
	if strings.Contains(e.logs.String(), "could not release") {
		t.Error("a release failed")
	}
}
