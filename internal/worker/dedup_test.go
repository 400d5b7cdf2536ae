package worker_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
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

// TestRepublishedAfter20DaysSendsNothing: rows TikTok accepted 20 days ago (the sent
// log holds their record; the clock is injected) are re-published by a backfill: they
// are still inside the 28-day window, so without the log TikTok (which forgets after
// 48 h) would count them twice. Nothing is sent; every row is a duplicate.
func TestRepublishedAfter20DaysSendsNothing(t *testing.T) {
	e := newEnv(t, nil)
	const n = 50
	accepted := now.Add(-20 * 24 * time.Hour)
	rec := dedup.Record{Destination: offline, AcceptedAt: accepted, RequestID: "req-20-days-ago"}
	for i := range n {
		id := fmt.Sprintf("old-%d", i)
		rec.Events = append(rec.Events, dedup.Key{Event: "Purchase", ID: id})
		r := row(id, i)
		r["timestamp"] = accepted.Add(-time.Hour).Unix()
		e.publish(offline, r)
	}
	if err := e.store.Append(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	w := e.newWorker("a", e.options())
	e.start(w)
	s := e.waitSettled(15*time.Second, w)
	e.checkAccounting(w)
	if s.Duplicates != n || s.Sent != 0 || e.tt.Requests() != 0 {
		t.Errorf("%d duplicates, %d sent, %d requests to TikTok; want %d, 0, 0", s.Duplicates, s.Sent, e.tt.Requests(), n)
	}
}

// TestSameIDOtherEventBothSent: TikTok's dedup key is event source + event name +
// event_id, so an InitiateCheckout and a Purchase that share an id are two events:
// both are sent, and a re-publish of either is a duplicate of its own kind only.
func TestSameIDOtherEventBothSent(t *testing.T) {
	e := newEnv(t, nil)
	checkout := webRow("order-77", 1)
	checkout["event"] = "InitiateCheckout"
	purchase := webRow("order-77", 1)
	purchase["event"] = "Purchase"
	e.publish(web, checkout)
	e.publish(web, purchase)
	w := e.newWorker("a", e.options())
	e.start(w)
	s := e.waitSettled(15*time.Second, w)
	if s.SentEvents != 2 || s.Duplicates != 0 {
		t.Fatalf("sent %d events, %d duplicates; want both events sent", s.SentEvents, s.Duplicates)
	}
	names := map[string]bool{}
	for _, a := range e.tt.Accepted() {
		var ev struct {
			Event string `json:"event"`
		}
		if err := json.Unmarshal(a.Raw, &ev); err != nil {
			t.Fatal(err)
		}
		names[ev.Event+"/"+a.EventID] = true
	}
	if !names["InitiateCheckout/order-77"] || !names["Purchase/order-77"] {
		t.Errorf("TikTok accepted %v; want both events of order-77", names)
	}
	e.publish(web, purchase) // again: now a duplicate
	s = e.waitSettled(15*time.Second, w)
	e.checkAccounting(w)
	if s.SentEvents != 2 || s.Duplicates != 1 {
		t.Errorf("after the re-publish: %d events sent, %d duplicates; want 2 and 1", s.SentEvents, s.Duplicates)
	}
}

// TestCopiesWaitWithinOneReplica: copies of events published while their originals
// are in flight in the same replica wait for them and become duplicates: one replica
// never sends an event twice.
func TestCopiesWaitWithinOneReplica(t *testing.T) {
	e := newEnv(t, []tiktoktest.Option{tiktoktest.WithLatency(300 * time.Millisecond)})
	const n = 300
	o := e.options()
	o.BatchSize = 100
	w := e.newWorker("a", o)
	e.start(w)
	e.publishMany(offline, "cp", n)
	waitFor(t, "the first request in flight", 5*time.Second, func() bool { return e.tt.Requests() > 0 })
	e.publishMany(offline, "cp", n) // the same events again, originals unacked
	s := e.waitSettled(20*time.Second, w)
	e.checkAccounting(w)
	e.noRepeats()
	if s.Sent != n || s.Duplicates != n {
		t.Errorf("sent %d rows, %d duplicates; want %d and %d", s.Sent, s.Duplicates, n, n)
	}
}
