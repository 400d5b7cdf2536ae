package worker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// noRepeats fails when the stand-in saw any event id twice (it drops repeats within
// 48 hours, as TikTok does, and counts them).
func (e *env) noRepeats() {
	e.t.Helper()
	if n := e.tt.Stats().Deduplicated; n != 0 {
		e.t.Errorf("TikTok was sent %d events it had already accepted", n)
	}
	for id, n := range e.acceptedIDs() {
		if n > 1 {
			e.t.Errorf("event %s accepted %d times", id, n)
		}
	}
}

func TestDuplicatesWithinAndAcrossMessages(t *testing.T) {
	e := newEnv(t, nil)
	// Within one message: an identical row is a duplicate; line items merge.
	r := row("same-msg", 1)
	e.publish(offline, r, r)
	// Across messages, both pending at once (one group): the second waits behind the
	// first and becomes a duplicate when it is accepted.
	for i := range 50 {
		e.publish(offline, row(fmt.Sprintf("pair-%d", i), i))
		e.publish(offline, row(fmt.Sprintf("pair-%d", i), i))
	}
	w := e.newWorker("a", e.options())
	e.start(w)
	e.waitSettled(15*time.Second, w)

	// Across messages, the first already sent: the dedup store answers.
	for i := range 50 {
		e.publish(offline, row(fmt.Sprintf("pair-%d", i), i))
	}
	s := e.waitSettled(15*time.Second, w)
	e.checkAccounting(w)
	e.noRepeats()
	if s.SentEvents != 51 || s.Sent != 51 {
		t.Errorf("sent %d events / %d rows, want 51 / 51", s.SentEvents, s.Sent)
	}
	if s.Duplicates != 1+50+50 {
		t.Errorf("duplicates = %d, want 101", s.Duplicates)
	}
}

func TestDuplicatesAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, nil, withStoreDir(dir))
	for i := range 100 {
		e.publish(offline, row(fmt.Sprintf("r-%d", i), i))
	}
	w1 := e.newWorker("first", e.options())
	r1 := e.start(w1)
	e.waitSettled(15*time.Second, w1)
	r1.stop(t)

	// A new worker (a restart) resumes where the first stopped: only new rows are
	// read, and re-published ones are duplicates.
	for i := 50; i < 150; i++ {
		e.publish(offline, row(fmt.Sprintf("r-%d", i), i))
	}
	w2 := e.newWorker("second", e.options())
	e.start(w2)
	e.waitSettled(15*time.Second, w1, w2)
	s2 := w2.Stats().Total
	if s2.Received != 100 {
		t.Errorf("the restarted worker read %d rows, want only the 100 new ones", s2.Received)
	}
	if s2.Duplicates != 50 || s2.Sent != 50 {
		t.Errorf("restarted worker: %d duplicates, %d sent; want 50 and 50", s2.Duplicates, s2.Sent)
	}
	e.checkAccounting(w1, w2)
	e.noRepeats()
}

func TestReplicasShareOneConsumer(t *testing.T) {
	e := newEnv(t, nil)
	o := e.options()
	o.PullBuffer = 64 // small pulls, so both replicas get work
	o.BatchSize = 100
	a, b := e.newWorker("a", o), e.newWorker("b", o)
	e.start(a)
	e.start(b)
	for i := range 2000 {
		e.publish(offline, row(fmt.Sprintf("rep-%d", i), i))
	}
	e.waitSettled(30*time.Second, a, b)
	// Re-publish a slice of them: duplicates wherever they land.
	for i := range 300 {
		e.publish(offline, row(fmt.Sprintf("rep-%d", i), i))
	}
	e.waitSettled(30*time.Second, a, b)
	s := e.checkAccounting(a, b)
	e.noRepeats()
	if s.SentEvents != 2000 || s.Duplicates != 300 {
		t.Errorf("sent %d events, %d duplicates; want 2000 and 300", s.SentEvents, s.Duplicates)
	}
	if a.Stats().Total.Received == 0 || b.Stats().Total.Received == 0 {
		t.Errorf("one replica did all the work: a %d rows, b %d rows",
			a.Stats().Total.Received, b.Stats().Total.Received)
	}
}

// TestInHandIsBounded: a replica holds about pull_buffer + (in_flight + 1) ×
// batch_size messages at most, the share of max_ack_pending it is sized for. The
// server's count runs over while acks are on their way (10 %), and nats.go's pull
// iterator asks for its next pull_buffer when half of the last one is consumed, so up
// to one more pull buffer can be on its way to the replica.
func TestInHandIsBounded(t *testing.T) {
	e := newEnv(t, []tiktoktest.Option{tiktoktest.WithLatency(200 * time.Millisecond)})
	e.publishMany(offline, "b", 3000)
	o := e.options()
	o.BatchSize, o.InFlight, o.PullBuffer = 100, 2, 50
	limit := o.PullBuffer + (o.InFlight+1)*o.BatchSize
	w := e.newWorker("a", o)
	e.start(w)
	cons, err := e.js.Consumer(t.Context(), e.names.RowsStream, e.names.ConsumerName(offline))
	if err != nil {
		t.Fatal(err)
	}
	most := 0
	waitFor(t, "every row settled", 30*time.Second, func() bool {
		if info, err := cons.Info(t.Context()); err == nil && info.NumAckPending > most {
			most = info.NumAckPending
		}
		return w.Stats().Total.Received == 3000
	})
	if most > limit+o.PullBuffer+limit/10 {
		t.Errorf("the replica held %d unacked messages, more than %d + a pull buffer in transit", most, limit)
	}
	if most < limit/2 {
		t.Errorf("the replica held at most %d messages: the bound %d is not used", most, limit)
	}
	t.Logf("held at most %d messages (bound %d)", most, limit)
	e.checkAccounting(w)
}
