package dedup

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
)

// internalSetup runs a server with the worker's topology.
func internalSetup(t *testing.T) (jetstream.JetStream, broker.Names, context.Context) {
	t.Helper()
	s := natstest.RunServer(t)
	_, js := natstest.Connect(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	names := broker.NamesFor("")
	if err := broker.Ensure(ctx, js, broker.Topology{}); err != nil {
		t.Fatal(err)
	}
	return js, names, ctx
}

// handOpened is OpenSentLog for "stores" without its last steps (measure, follow and
// the background goroutines), so that a test can stop in between.
func handOpened(t *testing.T, js jetstream.JetStream, names broker.Names) *SentLog {
	t.Helper()
	l := &SentLog{js: js, names: names, serves: map[string]bool{"stores": true}, fp: newFingerprints(), now: time.Now,
		sweep: time.Minute, watch: time.Hour, idx: newTable(0), earlier: map[uint64][]uint64{}, events: map[string]map[string]struct{}{"stores": {}},
		caughtUp: make(chan struct{}), readCh: make(chan struct{}), stop: make(chan struct{})}
	var err error
	if l.stream, err = js.Stream(context.Background(), names.SentStream); err != nil {
		t.Fatal(err)
	}
	return l
}

// Records counted at open that age out (here: are purged) before the follower reads
// them never arrive to say "caught up": the watch asks the stream instead.
func TestSentLogCaughtUpWhenItsRecordsAgedOut(t *testing.T) {
	js, names, ctx := internalSetup(t)
	w, err := OpenSentLog(ctx, js, names, []string{"stores"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range 3 {
		if err := w.Append(ctx, Record{Destination: "stores", RequestID: fmt.Sprint(i), Events: []Key{{Event: "Purchase", ID: fmt.Sprint(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	l := handOpened(t, js, names)
	l.watch = 10 * time.Millisecond
	subjects := []string{names.SentSubject("stores")}
	if err := l.measure(ctx, subjects); err != nil {
		t.Fatal(err)
	}
	if ok, why := l.Ready(); ok || why != "catching up the sent log: 0 of 3 records" {
		t.Fatalf("Ready = %v, %q", ok, why)
	}
	if err := l.stream.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.follow(ctx, subjects); err != nil {
		t.Fatal(err)
	}
	l.bg.Go(func() { l.watchCatchUp(subjects) })
	defer l.Close()
	if err := l.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := l.Remembered(); n != 0 {
		t.Errorf("remembers %d events of purged records", n)
	}
}

// Until the follower has read what was in the log at open, the log is not ready and
// says how far it is.
func TestSentLogReadyOnlyWhenCaughtUp(t *testing.T) {
	js, names, ctx := internalSetup(t)
	w, err := OpenSentLog(ctx, js, names, []string{"stores", "web"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if ok, why := w.Ready(); !ok {
		t.Fatalf("an empty log is not ready: %s", why)
	}
	for i := range 1200 {
		dest := []string{"stores", "web"}[i%2]
		if err := w.Append(ctx, Record{Destination: dest, RequestID: fmt.Sprint(i), Events: []Key{{Event: "Purchase", ID: fmt.Sprint(i)}}}); err != nil {
			t.Fatal(err)
		}
	}

	// Open by hand, stopping between counting and following.
	l := handOpened(t, js, names)
	subjects := []string{names.SentSubject("stores")}
	if err := l.measure(ctx, subjects); err != nil {
		t.Fatal(err)
	}
	ok, why := l.Ready()
	if ok || why != "catching up the sent log: 0 of 600 records" {
		t.Errorf("before following: Ready = %v, %q", ok, why)
	}
	short, cancelShort := context.WithCancel(ctx)
	cancelShort()
	if err := l.WaitCaughtUp(short); err == nil || !strings.Contains(err.Error(), "0 of 600") {
		t.Errorf("WaitCaughtUp on a cancelled context: %v", err)
	}
	if err := l.follow(ctx, subjects); err != nil {
		t.Fatal(err)
	}
	l.bg.Go(l.sweeper)
	defer l.Close()
	if err := l.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, why := l.Ready(); !ok {
		t.Errorf("caught up but not ready: %s", why)
	}
	if n, _ := l.Remembered(); n != 600 {
		t.Errorf("remembers %d events, want stores' 600", n)
	}
}

// A fingerprint collision never shows in Lookup: the record is read and checked.
func TestSentLogLookupChecksTheRecord(t *testing.T) {
	js, names, ctx := internalSetup(t)
	l, err := OpenSentLog(ctx, js, names, []string{"stores"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append(ctx, Record{Destination: "stores", RequestID: "r1", Events: []Key{{Event: "Purchase", ID: "o-1"}}}); err != nil {
		t.Fatal(err)
	}
	// Pretend o-2 collided with o-1: the index points o-2 at o-1's record.
	l.mu.Lock()
	v, _ := l.idx.get(l.fp.of("stores", "Purchase", "o-1"))
	l.idx.put(l.fp.of("stores", "Purchase", "o-2"), v)
	l.mu.Unlock()
	out := make([]bool, 1)
	l.Sent("stores", []Key{{Event: "Purchase", ID: "o-2"}}, out)
	if !out[0] {
		t.Fatal("the forced collision did not take")
	}
	got, err := l.Lookup(ctx, "stores", "o-2")
	if err != nil || len(got) != 0 {
		t.Errorf("Lookup(o-2) = %+v, %v; want nothing (the record holds o-1)", got, err)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[uint64]string{0: "0", 999: "999", 1000: "1,000", 10000: "10,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
