package dedup_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
)

const bucket = "TIKTOK_DEDUP"

func ctxT(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// setup runs a server with the dedup bucket (TTL ttl) created as the worker creates it.
func setup(tb testing.TB, ttl time.Duration) (*server.Server, jetstream.JetStream) {
	tb.Helper()
	s := natstest.RunServer(tb)
	_, js := natstest.Connect(tb, s)
	if err := broker.Ensure(ctxT(tb, 10*time.Second), js, broker.Topology{DedupTTL: ttl}); err != nil {
		tb.Fatal(err)
	}
	return s, js
}

func receipts(ids ...string) []dedup.Receipt {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	out := make([]dedup.Receipt, len(ids))
	for i, id := range ids {
		out[i] = dedup.Receipt{EventID: id, AcceptedAt: at.Add(time.Duration(i) * time.Second), RequestID: fmt.Sprintf("req-%d", i)}
	}
	return out
}

func TestKey(t *testing.T) {
	valid := regexp.MustCompile(`^[-/_=.a-zA-Z0-9]+$`)
	ids := []string{"", "order-1", "a.b.c", "*", ">", "with space", "ünïcödé ✓", "a/b", "=", strings.Repeat("x", 64), "\x00\xff"}
	keys := map[string]string{}
	for _, id := range ids {
		k, err := dedup.KVKey("stores", id)
		if err != nil {
			t.Fatalf("Key(%q): %v", id, err)
		}
		if !valid.MatchString(k) || strings.Count(k, ".") != 1 || !strings.HasPrefix(k, "stores.") {
			t.Errorf("Key(%q) = %q: not one destination token and one id token of KV key characters", id, k)
		}
		if other, dup := keys[k]; dup {
			t.Errorf("ids %q and %q share the key %q", id, other, k)
		}
		keys[k] = id
		// Reversible: the token decodes to the id.
		tok := k[len("stores."):]
		if tok == "=" {
			tok = ""
		}
		dec, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || string(dec) != id {
			t.Errorf("Key(%q) token %q decodes to %q, %v", id, tok, dec, err)
		}
	}
	for _, dest := range []string{"", "a.b", "a b", "*", "dést"} {
		if _, err := dedup.KVKey(dest, "x"); err == nil {
			t.Errorf("Key(%q, …) accepted a destination that is not one token", dest)
		}
	}
}

func TestSeenAfterMark(t *testing.T) {
	_, js := setup(t, time.Hour)
	ctx := ctxT(t, 20*time.Second)
	st := dedup.NewKV(js, bucket)

	odd := []string{"with space", "a.b.c", "*", ">", "ünïcödé ✓", strings.Repeat("z", 64), "", "tab\there", "$KV.x.>"}
	if err := st.Mark(ctx, "stores", receipts(append([]string{"order-1"}, odd...)...)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		dest string
		ids  []string
		want []bool
	}{
		{"marked and not", "stores", []string{"order-1", "order-2"}, []bool{true, false}},
		{"odd ids", "stores", odd, []bool{true, true, true, true, true, true, true, true, true}},
		{"near misses of odd ids", "stores", []string{"with  space", "a.b", "**", "a.b.c.", strings.Repeat("z", 63)}, []bool{false, false, false, false, false}},
		{"repeats in one call", "stores", []string{"order-1", "order-9", "order-1"}, []bool{true, false, true}},
		{"another destination does not collide", "web", []string{"order-1", "a.b.c", ""}, []bool{false, false, false}},
		{"a destination that is a prefix of another", "store", []string{"order-1"}, []bool{false}},
		{"nothing", "stores", nil, []bool{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.Seen(ctx, tt.dest, tt.ids)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Seen(%s, %q) = %v, want %v", tt.dest, tt.ids, got, tt.want)
			}
		})
	}
}

func TestSeenOnAnEmptyBucket(t *testing.T) {
	_, js := setup(t, time.Hour)
	got, err := dedup.NewKV(js, bucket).Seen(ctxT(t, 10*time.Second), "stores", []string{"a", "b"})
	if err != nil || fmt.Sprint(got) != "[false false]" {
		t.Fatalf("Seen = %v, %v", got, err)
	}
}

func TestLookup(t *testing.T) {
	_, js := setup(t, time.Hour)
	ctx := ctxT(t, 10*time.Second)
	st := dedup.NewKV(js, bucket)
	rs := receipts("order-1", "weird id.*>")
	if err := st.Mark(ctx, "stores", rs); err != nil {
		t.Fatal(err)
	}
	for _, want := range rs {
		got, ok, err := st.Lookup(ctx, "stores", want.EventID)
		if err != nil || !ok || got != want {
			t.Errorf("Lookup(%q) = %+v, %v, %v; want %+v", want.EventID, got, ok, err, want)
		}
	}
	if _, ok, err := st.Lookup(ctx, "web", "order-1"); ok || err != nil {
		t.Errorf("Lookup in another destination = %v, %v", ok, err)
	}
	// The stored value is the small receipt of SPEC §5, readable with the nats CLI.
	kv, _ := js.KeyValue(ctx, bucket)
	k, _ := dedup.KVKey("stores", "order-1")
	e, err := kv.Get(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(e.Value()), `{"accepted_at":"2026-03-01T12:00:00Z","request_id":"req-0"}`; got != want {
		t.Errorf("stored value %s, want %s", got, want)
	}
}

// A marker that was deleted or purged reads as not seen, and a new Mark revives it.
func TestDeletedMarkersAreNotSeen(t *testing.T) {
	_, js := setup(t, time.Hour)
	ctx := ctxT(t, 10*time.Second)
	st := dedup.NewKV(js, bucket)
	if err := st.Mark(ctx, "stores", receipts("del", "purge", "kept")); err != nil {
		t.Fatal(err)
	}
	kv, _ := js.KeyValue(ctx, bucket)
	kDel, _ := dedup.KVKey("stores", "del")
	kPurge, _ := dedup.KVKey("stores", "purge")
	if err := kv.Delete(ctx, kDel); err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(ctx, kPurge); err != nil {
		t.Fatal(err)
	}
	ids := []string{"del", "purge", "kept"}
	got, err := st.Seen(ctx, "stores", ids)
	if err != nil || fmt.Sprint(got) != "[false false true]" {
		t.Fatalf("Seen after delete and purge = %v, %v", got, err)
	}
	if _, ok, _ := st.Lookup(ctx, "stores", "del"); ok {
		t.Error("Lookup found a deleted marker")
	}
	if err := st.Mark(ctx, "stores", receipts("del")); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Seen(ctx, "stores", ids); fmt.Sprint(got) != "[true false true]" {
		t.Errorf("Seen after a new Mark = %v", got)
	}
}

// A marker older than the TTL reads as not seen even before the server removed it:
// checked with an injected clock, no waiting.
func TestMarkersPastTheTTLAreNotSeen(t *testing.T) {
	const ttl = 48 * time.Hour
	_, js := setup(t, ttl)
	ctx := ctxT(t, 10*time.Second)
	now := time.Now()
	clock := func() time.Time { return now }
	st := dedup.NewKV(js, bucket, dedup.WithClock(clock)) // TTL read from the bucket
	if err := st.Mark(ctx, "stores", receipts("a")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {ttl - time.Minute, true}, {ttl + time.Second, false}} {
		now = time.Now().Add(tt.at)
		got, err := st.Seen(ctx, "stores", []string{"a"})
		if err != nil || got[0] != tt.want {
			t.Errorf("Seen %s after Mark = %v, %v; want %v", tt.at, got, err, tt.want)
		}
		if _, ok, err := st.Lookup(ctx, "stores", "a"); ok != tt.want || err != nil {
			t.Errorf("Lookup %s after Mark = %v, %v; want %v", tt.at, ok, err, tt.want)
		}
	}
}

// The server removes expired markers itself: a bucket with a 1 s TTL forgets within
// a bounded wait (polled, not slept).
func TestMarkersExpireOnTheServer(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a 1s TTL")
	}
	_, js := setup(t, time.Second)
	ctx := ctxT(t, 15*time.Second)
	// WithTTL(0): only the server's removal can make the marker unseen here.
	st := dedup.NewKV(js, bucket, dedup.WithTTL(0))
	if err := st.Mark(ctx, "stores", receipts("a")); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		got, err := st.Seen(ctx, "stores", []string{"a"})
		if err != nil {
			t.Fatal(err)
		}
		if !got[0] {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("the marker was still seen 15s after its 1s TTL")
		case <-tick.C:
		}
	}
}

func TestSeenManyIDsInOneCall(t *testing.T) {
	_, js := setup(t, time.Hour)
	ctx := ctxT(t, 30*time.Second)
	st := dedup.NewKV(js, bucket)
	const n = 5000
	ids := make([]string, n)
	var marked []string
	for i := range ids {
		ids[i] = fmt.Sprintf("evt-%05d", i)
		if i%3 == 0 {
			marked = append(marked, ids[i])
		}
	}
	if err := st.Mark(ctx, "stores", receipts(marked...)); err != nil {
		t.Fatal(err)
	}
	got, err := st.Seen(ctx, "stores", ids)
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range got {
		if g != (i%3 == 0) {
			t.Fatalf("Seen[%d] (%s) = %v", i, ids[i], g)
		}
	}
}

func TestMarkersSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	s := natstest.RunServerIn(t, dir)
	_, js := natstest.Connect(t, s)
	ctx := ctxT(t, 20*time.Second)
	if err := broker.Ensure(ctx, js, broker.Topology{}); err != nil {
		t.Fatal(err)
	}
	if err := dedup.NewKV(js, bucket).Mark(ctx, "stores", receipts("before-restart")); err != nil {
		t.Fatal(err)
	}
	s.Shutdown()
	s.WaitForShutdown()

	s = natstest.RunServerIn(t, dir)
	_, js = natstest.Connect(t, s)
	st := dedup.NewKV(js, bucket)
	got, err := st.Seen(ctx, "stores", []string{"before-restart", "never"})
	if err != nil || fmt.Sprint(got) != "[true false]" {
		t.Fatalf("Seen after a restart = %v, %v", got, err)
	}
}

func TestErrors(t *testing.T) {
	_, js := setup(t, time.Hour)
	ctx := ctxT(t, 10*time.Second)
	st := dedup.NewKV(js, bucket)
	if _, err := st.Seen(ctx, "a.b", []string{"x"}); err == nil {
		t.Error("Seen accepted a destination with a '.'")
	}
	if err := st.Mark(ctx, "a b", receipts("x")); err == nil {
		t.Error("Mark accepted a destination with a space")
	}
	missing := dedup.NewKV(js, "NO_SUCH_BUCKET")
	if _, err := missing.Seen(ctx, "stores", []string{"x"}); err == nil || !strings.Contains(err.Error(), "NO_SUCH_BUCKET") {
		t.Errorf("Seen on a missing bucket = %v", err)
	}
	// A cancelled context is an error, never a silent "not seen".
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if got, err := st.Seen(cctx, "stores", []string{"x"}); err == nil {
		t.Errorf("Seen with a cancelled context = %v, nil", got)
	}
	if err := st.Mark(cctx, "stores", receipts("x")); err == nil {
		t.Error("Mark with a cancelled context succeeded")
	}
}

// The hot path makes one request per 1,000 ids, not one per id (SPEC §5).
func TestSeenIsOneRequestPerThousandIDs(t *testing.T) {
	s, js := setup(t, time.Hour)
	ctx := ctxT(t, 20*time.Second)
	spy, _ := natstest.Connect(t, s)
	// A synchronous subscription: its reader queues each message before it handles
	// the PONG of a later Flush, so Pending is exact after one (an async callback
	// could still be on its way).
	sub, err := spy.SubscribeSync("$JS.API.DIRECT.GET.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	st := dedup.NewKV(js, bucket)
	ids := make([]string, 2500)
	for i := range ids {
		ids[i] = fmt.Sprint("id-", i)
	}
	if err := st.Mark(ctx, "stores", receipts(ids[:10]...)); err != nil {
		t.Fatal(err)
	}
	got, err := st.Seen(ctx, "stores", ids)
	if err != nil {
		t.Fatal(err)
	}
	if !got[9] || got[10] {
		t.Fatalf("Seen = %v…", got[:11])
	}
	// The spy's subscription sees every request the server got, once flushed.
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	n, _, err := sub.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("Seen of 2,500 ids made %d direct-get requests, want 3", n)
	}
}

// On a stream that does not answer batch gets, Seen falls back to single gets and
// gives the same answers.
func TestSeenFallsBackWithoutBatchGets(t *testing.T) {
	_, js := setup(t, time.Hour)
	ctx := ctxT(t, 20*time.Second)
	if err := dedup.NewKV(js, bucket).Mark(ctx, "stores", receipts("a", "c")); err != nil {
		t.Fatal(err)
	}
	str, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	cfg := str.CachedInfo().Config
	cfg.AllowDirect = false
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	got, err := dedup.NewKV(js, bucket).Seen(ctx, "stores", []string{"a", "b", "c"})
	if err != nil || fmt.Sprint(got) != "[true false true]" {
		t.Fatalf("Seen without direct gets = %v, %v", got, err)
	}
}

// markLarge marks 2,500 receipts (three fast batches where the bucket allows them)
// and checks that every one reads back, with its own request id.
func markLarge(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	st := dedup.NewKV(js, bucket)
	ids := make([]string, 2500)
	for i := range ids {
		ids[i] = fmt.Sprint("big-", i)
	}
	if err := st.Mark(ctx, "stores", receipts(ids...)); err != nil {
		t.Fatal(err)
	}
	seen, err := st.Seen(ctx, "stores", append(ids, "never-marked"))
	if err != nil {
		t.Fatal(err)
	}
	for i, ok := range seen[:len(ids)] {
		if !ok {
			t.Fatalf("receipt %d of %d not seen after Mark", i, len(ids))
		}
	}
	if seen[len(ids)] {
		t.Fatal("an id never marked reads as seen")
	}
	for _, i := range []int{0, 999, 1000, 2499} {
		r, ok, err := st.Lookup(ctx, "stores", ids[i])
		if err != nil || !ok || r.RequestID != fmt.Sprint("req-", i) {
			t.Fatalf("Lookup(%s) = %+v, %v, %v", ids[i], r, ok, err)
		}
	}
}

// batchedMarkers counts the markers on the bucket's subjects that came in a fast
// batch, as a spy subscriber sees them.
func batchedMarkers(t *testing.T, s *server.Server, mark func()) (batched, all int) {
	t.Helper()
	spy, _ := natstest.Connect(t, s)
	var b, n atomic.Int64
	sub, err := spy.Subscribe("$KV."+bucket+".>", func(m *nats.Msg) {
		n.Add(1)
		if strings.HasSuffix(m.Reply, ".$FI") {
			b.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	mark()
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	sub.Unsubscribe()
	return int(b.Load()), int(n.Load())
}

func TestMarkManyInBatches(t *testing.T) {
	s, js := setup(t, time.Hour)
	batched, all := batchedMarkers(t, s, func() { markLarge(t, js) })
	if all < 2500 || batched != 2500 {
		t.Errorf("%d of %d markers went in fast batches, want all 2,500", batched, all)
	}
}

// A bucket without fast batch publish (created before the setting, or on an older
// server) gets every marker one message at a time, with the same result.
func TestMarkWithoutBatchPublish(t *testing.T) {
	s, js := setup(t, time.Hour)
	ctx := ctxT(t, 10*time.Second)
	str, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	cfg := str.CachedInfo().Config
	if !cfg.AllowBatchPublish {
		t.Fatal("broker.Ensure did not enable fast batch publish on the dedup bucket")
	}
	cfg.AllowBatchPublish = false
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	batched, all := batchedMarkers(t, s, func() { markLarge(t, js) })
	if all < 2500 || batched != 0 {
		t.Errorf("%d of %d markers went in fast batches on a bucket without them", batched, all)
	}
}

// A store that learnt the bucket takes fast batches, whose bucket then stops
// taking them, still writes every marker (the failed batch is written again one
// message at a time) and stops trying batches.
func TestMarkAfterBatchPublishIsTurnedOff(t *testing.T) {
	s, js := setup(t, time.Hour)
	ctx := ctxT(t, 30*time.Second)
	st := dedup.NewKV(js, bucket)
	// A spy sees every marker published; a fast batch's carry a reply subject ending
	// in ".$FI" (orbit.go's FastPublisher). A synchronous subscription holds them in
	// order before the PONG of a later Flush, so its queue is complete after one.
	spy, _ := natstest.Connect(t, s)
	sub, err := spy.SubscribeSync("$KV." + bucket + ".>")
	if err != nil {
		t.Fatal(err)
	}
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	first := make([]string, 100)
	for i := range first {
		first[i] = fmt.Sprint("first-", i)
	}
	if err := st.Mark(ctx, "stores", receipts(first...)); err != nil {
		t.Fatal(err)
	}
	str, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	cfg := str.CachedInfo().Config
	cfg.AllowBatchPublish = false
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		ids := make([]string, 100)
		for i := range ids {
			ids[i] = fmt.Sprintf("after-%d-%d", round, i)
		}
		if err := st.Mark(ctx, "stores", receipts(ids...)); err != nil {
			t.Fatal(err)
		}
		if err := spy.Flush(); err != nil {
			t.Fatal(err)
		}
		fast := 0
		for {
			m, err := sub.NextMsg(0)
			if err != nil {
				break // nats.ErrTimeout: the queue is empty
			}
			if strings.HasSuffix(m.Reply, ".$FI") {
				fast++
			}
		}
		seen, err := st.Seen(ctx, "stores", ids)
		if err != nil {
			t.Fatal(err)
		}
		for i, ok := range seen {
			if !ok {
				t.Fatalf("round %d: receipt %d not seen", round, i)
			}
		}
		// The first call tries one batch and learns; later calls must not try again.
		if round == 0 && fast == 0 {
			t.Error("the spy saw no fast batch on the first call: it could not see a repeated one either")
		}
		if round == 1 && fast != 0 {
			t.Errorf("Mark after a refused batch sent %d markers in a fast batch: the store kept trying batches", fast)
		}
	}
}
