package dedup_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
)

const benchKeys = 1000

func benchIDs(round int) []string {
	ids := make([]string, benchKeys)
	for i := range ids {
		ids[i] = fmt.Sprintf("evt-%d-%06d", round, i)
	}
	return ids
}

func reportKeys(b *testing.B) {
	b.ReportMetric(float64(b.N*benchKeys)/b.Elapsed().Seconds(), "keys/s")
}

// BenchmarkSeen1000 is one Seen of 1,000 ids, half of them marked: the hot path's
// lookup (batch gets).
func BenchmarkSeen1000(b *testing.B) {
	_, js := setup(b, time.Hour)
	ctx := context.Background()
	st := dedup.NewKV(js, bucket)
	ids := benchIDs(0)
	if err := st.Mark(ctx, "stores", receipts(ids[:benchKeys/2]...)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := st.Seen(ctx, "stores", ids); err != nil {
			b.Fatal(err)
		}
	}
	reportKeys(b)
}

// BenchmarkMark1000 is one Mark of 1,000 new receipts (async publishes, one wait).
func BenchmarkMark1000(b *testing.B) {
	_, js := setup(b, time.Hour)
	ctx := context.Background()
	st := dedup.NewKV(js, bucket)
	round := 0
	for b.Loop() {
		round++
		if err := st.Mark(ctx, "stores", receipts(benchIDs(round)...)); err != nil {
			b.Fatal(err)
		}
	}
	reportKeys(b)
}

// BenchmarkKVGetSync1000 is the naive lookup, one synchronous kv.Get per id, for the
// ratio with BenchmarkSeen1000.
func BenchmarkKVGetSync1000(b *testing.B) {
	_, js := setup(b, time.Hour)
	ctx := context.Background()
	st := dedup.NewKV(js, bucket)
	ids := benchIDs(0)
	if err := st.Mark(ctx, "stores", receipts(ids[:benchKeys/2]...)); err != nil {
		b.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i], _ = dedup.KVKey("stores", id)
	}
	b.ResetTimer()
	for b.Loop() {
		for _, k := range keys {
			if _, err := kv.Get(ctx, k); err != nil && err.Error() != "nats: key not found" {
				b.Fatal(err)
			}
		}
	}
	reportKeys(b)
}

// BenchmarkClaim1000 is one Claim of 1,000 fresh ids, the worker's per-group call
// before it sends (round 1 only: no id has a marker yet).
func BenchmarkClaim1000(b *testing.B) {
	_, js := setup(b, time.Hour)
	ctx := context.Background()
	st := dedup.NewKV(js, bucket)
	round := 0
	for b.Loop() {
		round++
		if _, err := st.Claim(ctx, "stores", "bench", benchIDs(round), time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	reportKeys(b)
}
