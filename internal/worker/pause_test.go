package worker_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/worker"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

func (e *env) publishMany(dest string, prefix string, n int) {
	e.t.Helper()
	for i := range n {
		if dest == web {
			e.publish(dest, webRow(fmt.Sprintf("%s-%d", prefix, i), i))
		} else {
			e.publish(dest, row(fmt.Sprintf("%s-%d", prefix, i), i))
		}
	}
}

func countLines(logs, substr string) int {
	n := 0
	for l := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

func TestCredentialPauseAndResume(t *testing.T) {
	e := newEnv(t, nil)
	e.tt.RevokeToken(tiktoktest.DefaultToken)
	e.publishMany(offline, "c", 300)
	e.publishMany(web, "cw", 40)
	w := e.newWorker("a", e.options())
	e.start(w)

	waitFor(t, "both destinations paused", 10*time.Second, func() bool {
		_, reasons := w.Ready()
		return len(reasons) == 2
	})
	_, reasons := w.Ready()
	for _, r := range reasons {
		if !strings.Contains(r, "40105") || !strings.Contains(r, "paused") || strings.Contains(r, tiktoktest.DefaultToken) {
			t.Errorf("readiness reason %q: want the code, the word paused, and no token", r)
		}
	}
	// Let it probe a few times while paused.
	waitFor(t, "probes", 10*time.Second, func() bool { return e.tt.Stats().Codes[40105] >= 6 })
	s := w.Stats()
	if s.Total.DeadLetteredTotal() != 0 || e.dlqCount() != 0 {
		t.Errorf("a credential problem dead-lettered rows: %v", s.Total.DeadLettered)
	}
	if !s.Total.Paused || s.Destinations[0].PauseReason == "" {
		t.Errorf("Stats do not report the pause: %+v", s.Total)
	}
	if got := e.rowsInStream(); got != 340 {
		t.Errorf("rows stream holds %d messages during the pause, want all 340", got)
	}
	logs := e.logs.String()
	for _, d := range []string{offline, web} {
		if n := countLines(logs, "destination "+d+" paused"); n != 1 {
			t.Errorf("%d log lines say %s paused, want exactly 1 (one per state change)", n, d)
		}
	}

	e.tt.RestoreToken(tiktoktest.DefaultToken)
	e.waitSettled(20*time.Second, w)
	waitFor(t, "ready again", 5*time.Second, func() bool { ok, _ := w.Ready(); return ok })
	s2 := e.checkAccounting(w)
	e.noRepeats()
	if s2.Sent+s2.Duplicates != 340 || s2.DeadLetteredTotal() != 0 {
		t.Errorf("after the token came back: sent %d, duplicates %d, dead-lettered %d; want all 340 delivered",
			s2.Sent, s2.Duplicates, s2.DeadLetteredTotal())
	}
	if s2.SentEvents != 340 {
		t.Errorf("TikTok accepted %d events, want 340", s2.SentEvents)
	}
	logs = e.logs.String()
	for _, d := range []string{offline, web} {
		if n := countLines(logs, "destination "+d+" resumed"); n != 1 {
			t.Errorf("%d log lines say %s resumed, want 1", n, d)
		}
	}
}

// TestConfigurationPauseLeavesOtherDestinations: a destination whose Pixel TikTok
// does not know pauses alone; the others deliver; once the Pixel exists it resumes.
func TestConfigurationPauseLeavesOtherDestinations(t *testing.T) {
	const ghost, pixel = "ghost", "CGHOSTPIXEL000000001"
	e := newEnv(t, nil, withDest(worker.Destination{Name: ghost,
		Events: events.Config{EventSource: events.SourceWeb, EventSourceID: pixel}}))
	e.publishMany(offline, "o", 200)
	for i := range 30 {
		e.publish(ghost, webRow(fmt.Sprintf("g-%d", i), i))
	}
	w := e.newWorker("a", e.options())
	e.start(w)
	waitFor(t, "offline delivered and ghost paused", 15*time.Second, func() bool {
		_, reasons := w.Ready()
		return w.Stats().Destinations[0].Received == 200 && len(reasons) > 0
	})
	_, reasons := w.Ready()
	if len(reasons) != 1 || !strings.Contains(reasons[0], "destination ghost paused") || !strings.Contains(reasons[0], "40002") {
		t.Fatalf("Ready reasons %q: want only ghost paused with code 40002", reasons)
	}
	// Offline's acks are asynchronous; ghost's 30 messages stay.
	waitFor(t, "only ghost's 30 messages left in the stream", 5*time.Second, func() bool { return e.rowsInStream() == 30 })
	e.tt.AddPixel(tiktoktest.DefaultAdvertiserID, pixel)
	e.waitSettled(20*time.Second, w)
	s := e.checkAccounting(w)
	e.noRepeats()
	// Its probes were refused like every event until the Pixel existed: it stayed
	// paused (one line each way), never resumed to pause again.
	logs := e.logs.String()
	if p, r := countLines(logs, "destination "+ghost+" paused"), countLines(logs, "destination "+ghost+" resumed"); p != 1 || r != 1 {
		t.Errorf("%d lines say %s paused and %d resumed, want 1 and 1", p, ghost, r)
	}
	if s.DeadLetteredTotal() != 0 || s.SentEvents != 230 {
		t.Errorf("sent %d events, dead-lettered %v; want 230 and none", s.SentEvents, s.DeadLettered)
	}
}

func TestOutagePausesAndRecovers(t *testing.T) {
	e := newEnv(t, nil, withMaxElapsed(200*time.Millisecond))
	e.tt.SetErrorRate(1, 7) // every request: HTTP 503
	e.publishMany(offline, "out", 500)
	w := e.newWorker("a", e.options())
	e.start(w)
	waitFor(t, "the outage pause", 10*time.Second, func() bool { ok, _ := w.Ready(); return !ok })
	_, reasons := w.Ready()
	if !strings.Contains(reasons[0], "max_elapsed") {
		t.Errorf("reason %q does not say TikTok did not answer", reasons[0])
	}
	waitFor(t, "probes", 10*time.Second, func() bool { return e.tt.Stats().Codes[503] >= 20 })
	if n := e.dlqCount(); n != 0 {
		t.Errorf("an outage dead-lettered %d rows", n)
	}
	if w.Stats().Total.HandedBack == 0 {
		t.Error("no message was handed back during the outage")
	}
	e.tt.SetErrorRate(0, 7)
	e.waitSettled(20*time.Second, w)
	s := e.checkAccounting(w)
	e.noRepeats()
	if s.DeadLetteredTotal() != 0 || s.Sent+s.Duplicates != 500 {
		t.Errorf("after the outage: sent %d, duplicates %d, dead-lettered %v", s.Sent, s.Duplicates, s.DeadLettered)
	}
}

// TestMaxDeliverExhausts: a message already delivered max_deliver-1 times (a crash
// loop) that an outage leaves unsettled on its last delivery is dead-lettered
// retries_exhausted; a message delivered less often is handed back and delivered.
func TestMaxDeliverExhausts(t *testing.T) {
	e := newEnv(t, nil, withMaxElapsed(200*time.Millisecond))
	e.publish(offline, row("looping", 1))
	// Two deliveries that never settle (a worker that crashed twice).
	ctx := t.Context()
	cons, err := e.js.Consumer(ctx, e.names.RowsStream, e.names.ConsumerName(offline))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		b, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range b.Messages() {
			if err := m.Nak(); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.publish(offline, row("fresh", 2))
	e.tt.SetErrorRate(1, 3)
	o := e.options()
	o.MaxDeliver = 3
	w := e.newWorker("a", o)
	e.start(w)
	waitFor(t, "the looping row exhausted", 10*time.Second, func() bool {
		return w.Stats().Total.DeadLettered["retries_exhausted"] == 1
	})
	e.tt.SetErrorRate(0, 3)
	e.waitSettled(15*time.Second, w)
	s := e.checkAccounting(w)
	if s.Sent != 1 || s.DeadLetteredTotal() != 1 {
		t.Errorf("sent %d, dead-lettered %v; want fresh sent and looping exhausted", s.Sent, s.DeadLettered)
	}
	ls := e.letters()
	if len(ls) != 1 || ls[0].Attempts != 3 || !strings.Contains(ls[0].Error, "delivered 3 times") {
		t.Fatalf("letters %+v: want one retries_exhausted letter with 3 attempts", ls)
	}
}

// TestDrainWithBatchInFlight: cancelling Run while TikTok is slow returns within the
// drain timeout; the request in flight finishes, the rest is handed back, and a new
// worker delivers it without repeats.
func TestDrainWithBatchInFlight(t *testing.T) {
	for _, tc := range []struct {
		name    string
		latency time.Duration
		drain   time.Duration
	}{
		{"in-flight finishes", 600 * time.Millisecond, 3 * time.Second},
		{"in-flight cut off", 10 * time.Second, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, []tiktoktest.Option{tiktoktest.WithLatency(tc.latency)}, withMaxElapsed(20*time.Second))
			e.publishMany(offline, "d", 3000)
			o := e.options()
			o.BatchSize = 500
			o.InFlight = 2
			o.DrainTimeout = tc.drain
			w1 := e.newWorker("first", o)
			r1 := e.start(w1)
			waitFor(t, "a request in flight", 10*time.Second, func() bool { return e.tt.Stats().APIRequests > 0 })
			took := r1.stop(t)
			if took > tc.drain {
				t.Errorf("Run returned %v after cancel, drain timeout %v", took, tc.drain)
			}
			s1 := w1.Stats().Total
			if !s1.Balanced() {
				t.Errorf("first worker does not balance: %+v", s1)
			}
			e.tt.SetLatency(0)
			w2 := e.newWorker("second", o)
			e.start(w2)
			e.waitSettled(30*time.Second, w1, w2)
			s := e.checkAccounting(w1, w2)
			e.noRepeats()
			if s.SentEvents != 3000 {
				t.Errorf("TikTok accepted %d events, want 3000", s.SentEvents)
			}
			t.Logf("drain took %v; first worker settled %d rows, handed back %d messages", took, s1.Received, s1.HandedBack)
		})
	}
}

// TestMissingConsumerWaits: a destination whose consumer does not exist yet is not
// ready and does not stop the others; once the consumer exists it delivers.
func TestMissingConsumerWaits(t *testing.T) {
	e := newEnv(t, nil)
	late := worker.Destination{Name: "late", Events: events.Config{EventSource: events.SourceOffline,
		EventSourceID: tiktoktest.DefaultEventSetID, FixedEventName: "Purchase"}}
	o := e.options()
	o.Destinations = append(o.Destinations, late)
	d := e.deps("a")
	d.Dedup = e.openSentLog(offline, web, late.Name) // a replica's log serves every destination it runs
	w := e.register(newWorkerWith(d, o))
	e.start(w)
	e.publishMany(offline, "o", 20)
	e.waitSettled(10*time.Second, w)
	_, reasons := w.Ready()
	if len(reasons) != 1 || !strings.Contains(reasons[0], "destination late waits for its consumer") {
		t.Fatalf("Ready reasons %q: want late waiting for its consumer", reasons)
	}
	if err := broker.Ensure(t.Context(), e.js, broker.Topology{Names: e.names, Destinations: []string{offline, web, "late"},
		MaxAckPending: 20000, AckWait: e.ackWait}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		e.publish("late", row(fmt.Sprintf("late-%d", i), i))
	}
	e.waitSettled(20*time.Second, w)
	waitFor(t, "ready", 5*time.Second, func() bool { ok, _ := w.Ready(); return ok })
	e.checkAccounting(w)
}

// TestSharedAckPendingDoesNotStall: with max_ack_pending below a batch, a partial
// batch leaves as soon as nothing more can arrive, not after max_wait each time.
func TestSharedAckPendingDoesNotStall(t *testing.T) {
	e := newEnv(t, nil)
	if err := broker.Ensure(t.Context(), e.js, broker.Topology{Names: e.names, Destinations: []string{offline, web},
		MaxAckPending: 300, AckWait: e.ackWait}); err != nil {
		t.Fatal(err)
	}
	e.publishMany(offline, "s", 3000)
	o := e.options()
	o.MaxWait = 5 * time.Second // 10 batches would take 50 s if each waited it out
	w := e.newWorker("a", o)
	start := time.Now()
	e.start(w)
	e.waitSettled(20*time.Second, w)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("3,000 rows through max_ack_pending 300 took %v", took)
	}
	e.checkAccounting(w)
}

// TestKeepAliveDuringSlowRequests: a request that takes longer than ack_wait does not
// get its messages redelivered: the worker marks them in progress.
func TestKeepAliveDuringSlowRequests(t *testing.T) {
	e := newEnv(t, []tiktoktest.Option{tiktoktest.WithLatency(2500 * time.Millisecond)},
		withAckWait(time.Second), withMaxElapsed(10*time.Second))
	e.publishMany(offline, "slow", 50)
	w := e.newWorker("a", e.options())
	e.start(w)
	e.waitSettled(15*time.Second, w)
	s := e.checkAccounting(w)
	e.noRepeats()
	if s.Received != 50 || s.Sent != 50 {
		t.Errorf("received %d, sent %d; want 50 and 50 (a redelivery would add rows)", s.Received, s.Sent)
	}
	cons, err := e.js.Consumer(t.Context(), e.names.RowsStream, e.names.ConsumerName(offline))
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumRedelivered != 0 {
		t.Errorf("%d messages were redelivered during a slow request", info.NumRedelivered)
	}
}

// TestRejectedLeaderPromotesFollower: two messages carry the same poison event id;
// the second waits behind the first, then is tried on its own and rejected too.
func TestRejectedLeaderPromotesFollower(t *testing.T) {
	e := newEnv(t, nil)
	e.tt.PoisonEvent("twice")
	e.publish(offline, row("twice", 1))
	e.publish(offline, row("twice", 2))
	e.publish(offline, row("ok", 3))
	w := e.newWorker("a", e.options())
	e.start(w)
	e.waitSettled(10*time.Second, w)
	s := e.checkAccounting(w)
	if s.DeadLettered["rejected"] != 2 || s.Sent != 1 {
		t.Errorf("sent %d, dead-lettered %v; want both poison rows rejected, one sent", s.Sent, s.DeadLettered)
	}
}

// TestRefusedAlikeStaysPausedUntilAccepted: TikTok refuses every event of a request
// the same way (40002 on a field no event is at fault for): the client reports a
// configuration error and the destination pauses. Its probe, one event alone, is
// refused the same way: still misconfigured, so it stays paused (no dead letter, no
// resume-and-pause-again) until TikTok accepts the probe.
func TestRefusedAlikeStaysPausedUntilAccepted(t *testing.T) {
	e := newEnv(t, nil)
	e.tt.FailNextWith(40, 40002, "Invalid value for data[0].properties.value: not allowed for this event set")
	e.publishMany(offline, "alike", 20)
	w := e.newWorker("a", e.options())
	e.start(w)
	s := e.waitSettled(30*time.Second, w)
	e.checkAccounting(w)
	// The accepted probe's own row comes back as a duplicate of it.
	if s.SentEvents != 20 || s.Sent+s.Duplicates != 20 || s.DeadLetteredTotal() != 0 {
		t.Errorf("%d events accepted, %d rows sent + %d duplicates, dead-lettered %v; want all 20 delivered",
			s.SentEvents, s.Sent, s.Duplicates, s.DeadLettered)
	}
	logs := e.logs.String()
	if p, r := countLines(logs, "destination "+offline+" paused"), countLines(logs, "destination "+offline+" resumed"); p != 1 || r != 1 {
		t.Errorf("%d lines say %s paused and %d resumed, want 1 and 1", p, offline, r)
	}
}
