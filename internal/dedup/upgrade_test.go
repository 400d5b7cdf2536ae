package dedup_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/logbuf"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
)

// bucket is the first version's dedup bucket.
const bucket = "TIKTOK_DEDUP"

// oldKey is the first version's key of event id for dest: the id in unpadded
// base64url, "=" for the empty id.
func oldKey(dest, id string) string {
	if id == "" {
		return dest + ".="
	}
	return dest + "." + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// writeOldBucket creates the bucket as the first version did (one marker per key, a
// TTL of a week) and puts a receipt marker per id in each request.
func writeOldBucket(tb testing.TB, ctx context.Context, js jetstream.JetStream, reqs []oldRequest) jetstream.KeyValue {
	tb.Helper()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucket, History: 1, TTL: 168 * time.Hour, Storage: jetstream.FileStorage,
	})
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range reqs {
		v := fmt.Appendf(nil, `{"accepted_at":%q,"request_id":%q}`, r.at.Format(time.RFC3339Nano), r.requestID)
		for _, id := range r.ids {
			if _, err := kv.Put(ctx, oldKey(r.dest, id), v); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return kv
}

type oldRequest struct {
	dest, requestID string
	at              time.Time
	ids             []string
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
	at := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	var big []string
	for i := range 1500 {
		big = append(big, fmt.Sprintf("big-%d", i))
	}
	kv := writeOldBucket(t, ctx, js, []oldRequest{
		{"stores", "req-big", at, big},
		{"stores", "req-2", at.Add(time.Minute), []string{"o-1"}},
		{"stores", "req-2", at, []string{"gone"}},
		{"web", "req-3", at.Add(2 * time.Minute), []string{"w/1 é"}},
	})
	claim := fmt.Appendf(nil, `{"claimed_by":"replica-1","lease_until":%q}`, time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano))
	if _, err := kv.Put(ctx, oldKey("stores", "claimed"), claim); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, oldKey("stores", "gone")); err != nil {
		t.Fatal(err)
	}

	// Two replicas start at once.
	logs := []*logbuf.Buffer{{}, {}}
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

// Without the previous version's bucket (a new install: Ensure does not create it)
// there is nothing to copy and nothing noted.
func TestUpgradeWithoutABucket(t *testing.T) {
	_, js := sentSetup(t, time.Hour)
	ctx := ctxT(t, 20*time.Second)
	if _, err := js.KeyValue(ctx, bucket); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("the first version's bucket on a new install: %v, want it absent", err)
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
	if _, err := js.KeyValue(ctx, bucket); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Errorf("the upgrade created the bucket it reads: %v", err)
	}
}
