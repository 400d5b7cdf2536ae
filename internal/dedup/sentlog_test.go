package dedup_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
)

var names = broker.NamesFor("")

func ctxT(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// sentSetup runs a server with the topology the worker creates (sent log retention
// retention) and returns a JetStream context on it.
func sentSetup(tb testing.TB, retention time.Duration) (*server.Server, jetstream.JetStream) {
	tb.Helper()
	s := natstest.RunServer(tb)
	_, js := natstest.Connect(tb, s)
	if err := broker.Ensure(ctxT(tb, 10*time.Second), js, broker.Topology{SentRetention: retention}); err != nil {
		tb.Fatal(err)
	}
	return s, js
}

func openLog(tb testing.TB, js jetstream.JetStream, dests []string, opts ...dedup.SentOption) *dedup.SentLog {
	tb.Helper()
	l, err := dedup.OpenSentLog(ctxT(tb, 10*time.Second), js, names, dests, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(l.Close)
	if err := l.WaitCaughtUp(ctxT(tb, 60*time.Second)); err != nil {
		tb.Fatal(err)
	}
	return l
}

// eventually waits until cond holds, looking every few milliseconds, or fails after
// within: for what the server does on its own (removing aged records), which has no
// event to wait on.
func eventually(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			tb.Fatalf("%s: not within %s", what, within)
		case <-tick.C:
		}
	}
}

// waitRead waits until l's follower has read n records.
func waitRead(tb testing.TB, l *dedup.SentLog, n uint64) {
	tb.Helper()
	if err := l.WaitRead(ctxT(tb, 30*time.Second), n); err != nil {
		tb.Fatal(err)
	}
}

func sentOf(l dedup.Store, dest string, keys ...dedup.Key) []bool {
	out := make([]bool, len(keys))
	l.Sent(dest, keys, out)
	return out
}

func rec(dest, reqID string, at time.Time, keys ...dedup.Key) dedup.Record {
	return dedup.Record{Destination: dest, AcceptedAt: at, RequestID: reqID, Events: keys}
}

var t0 = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

// TikTok's dedup key is event source + event + event_id: the same id under another
// event name is another event, and a receipt without a name covers every name.
func TestSentLogEventNames(t *testing.T) {
	_, js := sentSetup(t, time.Hour)
	ctx := ctxT(t, 20*time.Second)
	for _, store := range []struct {
		name string
		s    dedup.Store
	}{
		{"sent log", openLog(t, js, []string{"stores", "web"})},
		{"memory", dedup.NewMemory()},
	} {
		t.Run(store.name, func(t *testing.T) {
			s := store.s
			if err := s.Append(ctx, rec("stores", "req-1", t0, dedup.Key{Event: "InitiateCheckout", ID: "o-1"}, dedup.Key{Event: "Purchase", ID: "o-2"})); err != nil {
				t.Fatal(err)
			}
			if err := s.Append(ctx, rec("stores", "req-old", t0, dedup.Key{ID: "o-3"})); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				dest string
				key  dedup.Key
				want bool
			}{
				{"stores", dedup.Key{Event: "InitiateCheckout", ID: "o-1"}, true},
				{"stores", dedup.Key{Event: "Purchase", ID: "o-1"}, false}, // same id, another event
				{"stores", dedup.Key{Event: "Purchase", ID: "o-2"}, true},
				{"stores", dedup.Key{Event: "AddToCart", ID: "o-2"}, false},
				{"stores", dedup.Key{Event: "Purchase", ID: "o-3"}, true}, // a receipt without a name covers every name
				{"stores", dedup.Key{Event: "AddToCart", ID: "o-3"}, true},
				{"stores", dedup.Key{ID: "o-3"}, true},
				{"stores", dedup.Key{ID: "o-1"}, false},                         // a named event is not a receipt for every name
				{"web", dedup.Key{Event: "InitiateCheckout", ID: "o-1"}, false}, // another destination
				{"stores", dedup.Key{Event: "Purchase", ID: "o-4"}, false},
			} {
				if got := sentOf(s, c.dest, c.key)[0]; got != c.want {
					t.Errorf("Sent(%s, %+v) = %v, want %v", c.dest, c.key, got, c.want)
				}
			}

			got, err := s.Lookup(ctx, "stores", "o-1")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Event != "InitiateCheckout" || got[0].RequestID != "req-1" || !got[0].AcceptedAt.Equal(t0) {
				t.Errorf("Lookup(o-1) = %+v", got)
			}
			got, err = s.Lookup(ctx, "stores", "o-3")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Event != "" || got[0].RequestID != "req-old" {
				t.Errorf("Lookup(o-3) = %+v", got)
			}
			if got, err := s.Lookup(ctx, "stores", "o-9"); err != nil || len(got) != 0 {
				t.Errorf("Lookup(o-9) = %+v, %v; want nothing", got, err)
			}
		})
	}
}

// An id sent twice (two replicas at once) shows both records to an operator, and the
// same id under two names in one record shows twice.
func TestSentLogLookupEveryRecord(t *testing.T) {
	_, js := sentSetup(t, time.Hour)
	ctx := ctxT(t, 20*time.Second)
	a := openLog(t, js, []string{"stores"})
	b := openLog(t, js, []string{"stores"})
	if err := a.Append(ctx, rec("stores", "req-a", t0, dedup.Key{Event: "Purchase", ID: "o-1"}, dedup.Key{Event: "AddToCart", ID: "o-1"})); err != nil {
		t.Fatal(err)
	}
	if err := b.Append(ctx, rec("stores", "req-b", t0.Add(time.Second), dedup.Key{Event: "Purchase", ID: "o-1"})); err != nil {
		t.Fatal(err)
	}
	waitRead(t, a, 2)
	got, err := a.Lookup(ctx, "stores", "o-1")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ event, req string }{{"Purchase", "req-a"}, {"AddToCart", "req-a"}, {"Purchase", "req-b"}}
	if len(got) != len(want) {
		t.Fatalf("Lookup = %+v, want %v", got, want)
	}
	for i, w := range want {
		if got[i].Event != w.event || got[i].RequestID != w.req || got[i].Seq == 0 {
			t.Errorf("Lookup[%d] = %+v, want %v", i, got[i], w)
		}
	}
}

// Records one replica appends reach another through the follower; a restarted
// replica catches up from the stream before it is ready.
func TestSentLogReplicasAndRestart(t *testing.T) {
	_, js := sentSetup(t, time.Hour)
	ctx := ctxT(t, 30*time.Second)
	a := openLog(t, js, []string{"stores"})
	b := openLog(t, js, []string{"stores"})

	const records, per = 20, 50
	for r := range records {
		keys := make([]dedup.Key, per)
		for i := range keys {
			keys[i] = dedup.Key{Event: "Purchase", ID: fmt.Sprintf("o-%d-%d", r, i)}
		}
		if err := a.Append(ctx, rec("stores", fmt.Sprintf("req-%d", r), t0, keys...)); err != nil {
			t.Fatal(err)
		}
		// Append waits for the ack and indexes at once: no wait for the follower.
		if !sentOf(a, "stores", keys[per-1])[0] {
			t.Fatalf("record %d: not sent on the replica that appended it", r)
		}
	}
	waitRead(t, b, records)
	if last := (dedup.Key{Event: "Purchase", ID: fmt.Sprintf("o-%d-%d", records-1, per-1)}); !sentOf(b, "stores", last)[0] {
		t.Error("replica b does not know a's last record after reading it")
	}

	c := openLog(t, js, []string{"stores"}) // a restart: a new index from the stream
	if ok, why := c.Ready(); !ok {
		t.Fatalf("Ready after WaitCaughtUp: %s", why)
	}
	if n, _ := c.Remembered(); n != records*per {
		t.Errorf("restarted replica remembers %d events, want %d", n, records*per)
	}
	for r := range records {
		for i := range per {
			k := dedup.Key{Event: "Purchase", ID: fmt.Sprintf("o-%d-%d", r, i)}
			if !sentOf(c, "stores", k)[0] {
				t.Fatalf("restarted replica: %+v not sent", k)
			}
		}
	}
}

// A replica indexes only the destinations it serves.
func TestSentLogServesItsDestinationsOnly(t *testing.T) {
	_, js := sentSetup(t, time.Hour)
	ctx := ctxT(t, 20*time.Second)
	all := openLog(t, js, []string{"stores", "web"})
	if err := all.Append(ctx, rec("web", "req-w", t0, dedup.Key{Event: "ViewContent", ID: "w-1"})); err != nil {
		t.Fatal(err)
	}
	if err := all.Append(ctx, rec("stores", "req-s", t0, dedup.Key{Event: "Purchase", ID: "s-1"})); err != nil {
		t.Fatal(err)
	}
	stores := openLog(t, js, []string{"stores"})
	if n, _ := stores.Remembered(); n != 1 {
		t.Errorf("a replica serving stores remembers %d events, want 1 (web's are not its own)", n)
	}
	if got := sentOf(stores, "stores", dedup.Key{Event: "Purchase", ID: "s-1"}); !got[0] {
		t.Error("stores' event not sent")
	}
	if err := stores.Append(ctx, rec("web", "req-x", t0, dedup.Key{Event: "ViewContent", ID: "w-2"})); err == nil {
		t.Error("Append for a destination the replica does not serve succeeded")
	}
	if _, err := stores.Lookup(ctx, "web", "w-1"); err == nil {
		t.Error("Lookup for a destination the replica does not serve succeeded")
	}
}

// Entries older than the retention are absent at once (by the record's age, not by a
// sweep), and a sweep gives their memory back.
func TestSentLogForgetsAfterRetention(t *testing.T) {
	_, js := sentSetup(t, 696*time.Hour)
	ctx := ctxT(t, 20*time.Second)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	l := openLog(t, js, []string{"stores"}, dedup.SentClock(clock))
	k := dedup.Key{Event: "Purchase", ID: "o-1"}
	if err := l.Append(ctx, rec("stores", "req-1", t0, k)); err != nil {
		t.Fatal(err)
	}
	waitRead(t, l, 1)

	for _, c := range []struct {
		after time.Duration
		want  bool
	}{
		{20 * 24 * time.Hour, true}, // 20 days later: still remembered
		{696*time.Hour - time.Minute, true},
		{696*time.Hour + time.Minute, false}, // past the retention (a minute's granule)
	} {
		now.Store(time.Now().Add(c.after).UnixNano())
		if got := sentOf(l, "stores", k)[0]; got != c.want {
			t.Errorf("%s later: Sent = %v, want %v", c.after, got, c.want)
		}
	}
	if n := l.SweepNow(); n != 1 {
		t.Errorf("sweep removed %d entries, want 1", n)
	}
	if n, _ := l.Remembered(); n != 0 {
		t.Errorf("after the sweep %d entries remain", n)
	}
	if got, err := l.Lookup(ctx, "stores", "o-1"); err != nil || len(got) != 0 {
		t.Errorf("Lookup after the retention = %+v, %v", got, err)
	}
	// A record appended afterwards is remembered again. (Back to the server's clock
	// first: the server stamps records with its own time, which the injected one ran
	// 29 days ahead of.)
	now.Store(time.Now().UnixNano())
	if err := l.Append(ctx, rec("stores", "req-2", t0, k)); err != nil {
		t.Fatal(err)
	}
	if !sentOf(l, "stores", k)[0] {
		t.Error("a new record after the retention is not sent")
	}
}

// The server's own max age removes records; a replica started afterwards does not
// know them.
func TestSentLogRecordsAgeOutOnTheServer(t *testing.T) {
	_, js := sentSetup(t, 2*time.Second)
	ctx := ctxT(t, 30*time.Second)
	a := openLog(t, js, []string{"stores"})
	if err := a.Append(ctx, rec("stores", "req-1", t0, dedup.Key{Event: "Purchase", ID: "o-1"})); err != nil {
		t.Fatal(err)
	}
	waitRead(t, a, 1) // the follower learns the record's age

	st, err := js.Stream(ctx, names.SentStream)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the server removes the record after its max age", func() bool {
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
	if sentOf(a, "stores", dedup.Key{Event: "Purchase", ID: "o-1"})[0] {
		t.Error("a record the server removed for its age is still sent on the replica")
	}
	b := openLog(t, js, []string{"stores"})
	if n, _ := b.Remembered(); n != 0 {
		t.Errorf("a replica started after the record aged out remembers %d events", n)
	}
}

// Sent, Append and the follower run at once (go test -race).
func TestSentLogConcurrentUse(t *testing.T) {
	_, js := sentSetup(t, time.Hour)
	ctx := ctxT(t, 60*time.Second)
	a := openLog(t, js, []string{"stores"})
	b := openLog(t, js, []string{"stores"})
	var wg sync.WaitGroup
	for w, l := range []*dedup.SentLog{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range 25 {
				keys := make([]dedup.Key, 40)
				for i := range keys {
					keys[i] = dedup.Key{Event: "Purchase", ID: fmt.Sprintf("w%d-%d-%d", w, r, i)}
				}
				out := make([]bool, len(keys))
				l.Sent("stores", keys, out)
				if err := l.Append(ctx, rec("stores", fmt.Sprintf("req-%d-%d", w, r), t0, keys...)); err != nil {
					t.Error(err)
					return
				}
				if _, err := l.Lookup(ctx, "stores", keys[0].ID); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	waitRead(t, a, 100)
	waitRead(t, b, 100)
	for _, l := range []*dedup.SentLog{a, b} {
		if n, _ := l.Remembered(); n != 4*25*40 {
			t.Errorf("a replica remembers %d events, want %d", n, 4*25*40)
		}
	}
}

// An operator reads the log with the plain NATS tools: one JSON record per request.
func TestSentLogRecordFormat(t *testing.T) {
	_, js := sentSetup(t, time.Hour)
	ctx := ctxT(t, 20*time.Second)
	l := openLog(t, js, []string{"stores"})
	if err := l.Append(ctx, rec("stores", "req-1", t0, dedup.Key{Event: "Purchase", ID: "o-1"}, dedup.Key{ID: "o-2"})); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, names.SentStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(ctx, "tiktok.sent.stores")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"accepted_at":"2026-11-02T10:00:00Z","request_id":"req-1","events":[{"event":"Purchase","event_id":"o-1"},{"event_id":"o-2"}]}`
	if string(m.Data) != want {
		t.Errorf("record:\n got %s\nwant %s", m.Data, want)
	}
	// The same record appended again (an append retried after a lost ack) is stored once.
	if err := l.Append(ctx, rec("stores", "req-1", t0, dedup.Key{Event: "Purchase", ID: "o-1"}, dedup.Key{ID: "o-2"})); err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("the log holds %d records after a repeated append, want 1", info.State.Msgs)
	}
}

func TestOpenSentLogErrors(t *testing.T) {
	s := natstest.RunServer(t)
	_, js := natstest.Connect(t, s)
	ctx := ctxT(t, 10*time.Second)
	for _, c := range []struct {
		name  string
		dests []string
	}{
		{"no destination", nil},
		{"bad destination", []string{"a.b"}},
		{"no stream", []string{"stores"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := dedup.OpenSentLog(ctx, js, names, c.dests); err == nil {
				t.Error("OpenSentLog succeeded")
			}
		})
	}
}
