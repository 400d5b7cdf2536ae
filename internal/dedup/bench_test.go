package dedup_test

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
)

// The sent log's benchmarks. BenchmarkSentLogStartup runs 1M remembered events (1,000
// records × 1,000 events); set DEDUP_BENCH_EVENTS=10000000 for the 10M case (about a
// minute to build, 2 GB of disk under $TMPDIR).

// sentFixture fills a fresh server's sent log with records × per events of random
// UUID-like ids (the realistic worst case for compression), one in ten
// InitiateCheckout and the rest Purchase, published as the log's own JSON records
// (without a SentLog, so that no index of them stays in this process), and returns
// the keys of the first record.
func sentFixture(b *testing.B, records, per int) (*server.Server, jetstream.JetStream, []dedup.Key) {
	b.Helper()
	s, js := sentSetup(b, 696*time.Hour)
	ctx := ctxT(b, 30*time.Minute)
	r := rand.New(rand.NewPCG(7, 8))
	var first []dedup.Key
	var body []byte
	for i := range records {
		body = fmt.Appendf(body[:0], `{"accepted_at":%q,"request_id":%q,"events":[`, time.Now().UTC().Format(time.RFC3339Nano), uuidLike(r))
		for j := range per {
			event := "Purchase"
			if j%10 == 0 {
				event = "InitiateCheckout"
			}
			id := idOf(r, i*per+j)
			if i == 0 {
				first = append(first, dedup.Key{Event: event, ID: id})
			}
			if j > 0 {
				body = append(body, ',')
			}
			body = fmt.Appendf(body, `{"event":%q,"event_id":%q}`, event, id)
		}
		body = append(body, "]}"...)
		if _, err := js.PublishAsync(names.SentSubject("stores"), append([]byte(nil), body...)); err != nil {
			b.Fatal(err)
		}
		if i%256 == 255 {
			select {
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
				b.Fatal(ctx.Err())
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		b.Fatal(ctx.Err())
	}
	return s, js, first
}

// idOf makes the fixture's ids: random UUID-like strings, or with
// DEDUP_BENCH_IDS=sequential order numbers counting up (o-0000000001 …), which S2
// compresses far better.
func idOf(r *rand.Rand, n int) string {
	if os.Getenv("DEDUP_BENCH_IDS") == "sequential" {
		return fmt.Sprintf("o-%010d", n)
	}
	return uuidLike(r)
}

func uuidLike(r *rand.Rand) string {
	hi, lo := r.Uint64(), r.Uint64()
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", hi>>32, hi>>16&0xffff, hi&0xffff, lo>>48, lo&0xffffffffffff)
}

// cpuTime is the CPU time this process (and the in-process server) has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// dirBytes is the size of the files under dir.
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// BenchmarkSentLogStartup opens the log and catches up on 1M remembered events (or
// DEDUP_BENCH_EVENTS): ns/op is the start-up time. It reports the replica memory the
// open log holds per remembered event (B/event: heap after GC, index and all), the
// index table alone (table-B/event), and the server's disk per event after S2
// (disk-B/event, the stream's files).
func BenchmarkSentLogStartup(b *testing.B) {
	events := 1_000_000
	if v := os.Getenv("DEDUP_BENCH_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			b.Fatalf("DEDUP_BENCH_EVENTS=%q: want a number of events, at least 1000", v)
		}
		events = n
	}
	const per = 1000
	s, js, _ := sentFixture(b, events/per, per)
	remembered := (events / per) * per
	disk := dirBytes(filepath.Join(s.StoreDir(), "$G", "streams", names.SentStream))
	if disk == 0 {
		b.Fatalf("no stream files under %s", s.StoreDir())
	}
	var perEvent, tablePer float64
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		before := heapAfterGC()
		b.StartTimer()
		cpu0 := cpuTime()
		l, err := dedup.OpenSentLog(context.Background(), js, names, []string{"stores"})
		if err != nil {
			b.Fatal(err)
		}
		if err := l.WaitCaughtUp(ctxT(b, 30*time.Minute)); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - cpu0
		b.StopTimer()
		n, tableBytes := l.Remembered()
		if n != remembered {
			b.Fatalf("caught up with %d events, want %d", n, remembered)
		}
		if perEvent == 0 {
			// The first start-up only: a closed log's buffers may still be
			// collected during a later one's measurement.
			perEvent = float64(int64(heapAfterGC())-int64(before)) / float64(n)
		}
		tablePer = float64(tableBytes) / float64(n)
		runtime.KeepAlive(l)
		l.Close()
		b.StartTimer()
	}
	b.ReportMetric(perEvent, "B/event")
	b.ReportMetric(tablePer, "table-B/event")
	b.ReportMetric(float64(disk)/float64(remembered), "disk-B/event")
	b.ReportMetric(float64(remembered), "events")
	// CPU seconds per start-up (client and in-process server): what the wall time
	// would be on an idle machine, give or take the server's share.
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}

// BenchmarkSentLogSent1000 is one Sent of 1,000 keys (100 sent, 900 new) against an
// index of 1M remembered events: the worker's duplicate check of one batch.
func BenchmarkSentLogSent1000(b *testing.B) {
	_, js, first := sentFixture(b, 1000, 1000)
	l := openLog(b, js, []string{"stores"})
	r := rand.New(rand.NewPCG(9, 10))
	keys := make([]dedup.Key, 1000)
	for i := range keys {
		if i < 100 {
			keys[i] = first[i]
		} else {
			keys[i] = dedup.Key{Event: "Purchase", ID: uuidLike(r)}
		}
	}
	out := make([]bool, len(keys))
	for b.Loop() {
		l.Sent("stores", keys, out)
	}
	for i, sent := range out {
		if sent != (i < 100) {
			b.Fatalf("key %d: sent %v", i, sent)
		}
	}
	b.ReportMetric(float64(b.N*len(keys))/b.Elapsed().Seconds(), "keys/s")
}

// BenchmarkSentLogAppend1000 is one Append of a record of 1,000 events: the publish,
// its ack and the index update, per accepted request.
func BenchmarkSentLogAppend1000(b *testing.B) {
	_, js := sentSetup(b, 696*time.Hour)
	l := openLog(b, js, []string{"stores"})
	ctx := ctxT(b, 10*time.Minute)
	r := rand.New(rand.NewPCG(11, 12))
	recs := make([]dedup.Record, 64)
	for i := range recs {
		keys := make([]dedup.Key, 1000)
		for j := range keys {
			keys[j] = dedup.Key{Event: "Purchase", ID: uuidLike(r)}
		}
		recs[i] = dedup.Record{Destination: "stores", AcceptedAt: time.Now(), RequestID: uuidLike(r), Events: keys}
	}
	i := 0
	for b.Loop() {
		rec := recs[i%len(recs)]
		rec.RequestID = fmt.Sprint(i) // another body each time: no duplicate-window drop
		i++
		if err := l.Append(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkSentLogLookup is one Lookup (worker trace) of an id against 1M remembered
// events: a probe per event name seen, then a direct get and a decode of the record.
func BenchmarkSentLogLookup(b *testing.B) {
	_, js, first := sentFixture(b, 1000, 1000)
	l := openLog(b, js, []string{"stores"})
	ctx := ctxT(b, 10*time.Minute)
	for b.Loop() {
		got, err := l.Lookup(ctx, "stores", first[500].ID)
		if err != nil || len(got) != 1 {
			b.Fatalf("Lookup = %+v, %v", got, err)
		}
	}
}
