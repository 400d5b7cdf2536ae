package dedup_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A bucket written by the first version's store is copied into the sent log once,
// by two replicas starting at once, and what it held is sent under every event name.
func TestUpgradeFromTheFirstVersionsBucket(t *testing.T) {
	s := natstest.RunServer(t)
	_, js := natstest.Connect(t, s)
	ctx := ctxT(t, 60*time.Second)
	if err := broker.Ensure(ctx, js, broker.Topology{Destinations: []string{"stores", "web"}}); err != nil {
		t.Fatal(err)
	}
	// The first version: receipts of three requests (one of 1,500 events), a claim
	// in force, and a receipt deleted by an operator.
	old := dedup.NewKV(js, bucket)
	at := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	var big []dedup.Receipt
	for i := range 1500 {
		big = append(big, dedup.Receipt{EventID: fmt.Sprintf("big-%d", i), AcceptedAt: at, RequestID: "req-big"})
	}
	for _, m := range []struct {
		dest string
		rs   []dedup.Receipt
	}{
		{"stores", big},
		{"stores", []dedup.Receipt{{EventID: "o-1", AcceptedAt: at.Add(time.Minute), RequestID: "req-2"}, {EventID: "gone", AcceptedAt: at, RequestID: "req-2"}}},
		{"web", []dedup.Receipt{{EventID: "w/1 é", AcceptedAt: at.Add(2 * time.Minute), RequestID: "req-3"}}},
	} {
		if err := old.Mark(ctx, m.dest, m.rs); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := old.Claim(ctx, "stores", "replica-1", []string{"claimed"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := dedup.KVKey("stores", "gone")
	if err := kv.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}

	// Two replicas start at once.
	logs := []*syncBuffer{{}, {}}
	reps := make([]dedup.UpgradeReport, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, js := natstest.Connect(t, s)
			reps[i], errs[i] = dedup.UpgradeFromBucket(ctx, js, names, bucket, zerolog.New(logs[i]))
		}()
	}
	wg.Wait()
	copied := 0
	for i, rep := range reps {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		if rep.Copied {
			copied++
			if rep.Receipts != 1502 || rep.Records != 4 || rep.Destinations != 2 {
				t.Errorf("replica %d: %+v, want 1,502 receipts in 4 records (1,000 + 500 + 1 + 1) for 2 destinations", i, rep)
			}
			if out := logs[i].String(); !strings.Contains(out, "copied 1502 receipts") || strings.Contains(out, "big-") || strings.Contains(out, "o-1") {
				t.Errorf("replica %d log (counts, never ids):\n%s", i, out)
			}
		}
	}
	if copied == 0 {
		t.Fatal("no replica copied the bucket")
	}
	st, err := js.Stream(ctx, names.SentStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 5 { // 4 records and the note that the bucket was copied
		t.Errorf("the sent log holds %d messages after two replicas copied, want 5", info.State.Msgs)
	}
	if _, err := js.KeyValue(ctx, bucket); err != nil {
		t.Errorf("the bucket is gone after the upgrade: %v", err)
	}

	l := openLog(t, js, []string{"stores", "web"})
	for _, c := range []struct {
		dest, event, id string
		want            bool
	}{
		{"stores", "Purchase", "big-0", true},
		{"stores", "InitiateCheckout", "big-1499", true}, // old receipts cover every name
		{"stores", "Purchase", "o-1", true},
		{"web", "ViewContent", "w/1 é", true},
		{"stores", "Purchase", "claimed", false}, // a claim is not a receipt
		{"stores", "Purchase", "gone", false},    // deleted by an operator
		{"web", "Purchase", "o-1", false},
	} {
		if got := sentOf(l, c.dest, dedup.Key{Event: c.event, ID: c.id})[0]; got != c.want {
			t.Errorf("Sent(%s, %s, %q) = %v, want %v", c.dest, c.event, c.id, got, c.want)
		}
	}
	got, err := l.Lookup(ctx, "stores", "o-1")
	if err != nil || len(got) != 1 || got[0].RequestID != "req-2" || !got[0].AcceptedAt.Equal(at.Add(time.Minute)) || got[0].Event != "" {
		t.Errorf("Lookup of a copied receipt = %+v, %v", got, err)
	}

	// Once copied, never again.
	rep, err := dedup.UpgradeFromBucket(ctx, js, names, bucket, zerolog.Nop())
	if err != nil || rep.Copied {
		t.Errorf("a second upgrade: %+v, %v; want nothing done", rep, err)
	}
}

// Without the previous version's bucket there is nothing to copy and nothing noted.
func TestUpgradeWithoutABucket(t *testing.T) {
	_, js := sentSetup(t, time.Hour) // Ensure creates the bucket: remove it
	ctx := ctxT(t, 20*time.Second)
	if err := js.DeleteKeyValue(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	rep, err := dedup.UpgradeFromBucket(ctx, js, names, bucket, zerolog.Nop())
	if err != nil || rep.Copied {
		t.Fatalf("%+v, %v", rep, err)
	}
	st, err := js.Stream(ctx, names.SentStream)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Errorf("the sent log holds %d messages (%v), want none", info.State.Msgs, err)
	}
}
