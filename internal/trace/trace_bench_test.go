package trace_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/trace"
)

// BenchmarkTrace is one trace of one id with its bounds filled: twice DefaultScanDLQ
// letters in the DLQ and twice DefaultScanRows messages waiting, so that both bounds
// cut. The figure is what an operator waits for at most. The sent log's Lookup is
// indexed and not part of it (dedup.Memory's Lookup is a linear scan for tests).
func BenchmarkTrace(b *testing.B) {
	ctx := context.Background()
	_, js := natstest.Connect(b, natstest.RunServer(b))
	names := broker.NamesFor("")
	if err := broker.Ensure(ctx, js, broker.Topology{Names: names, Destinations: []string{"stores"}}); err != nil {
		b.Fatal(err)
	}
	letters := make([]dlq.Letter, 0, 1000)
	pub := dlq.NewPublisher(js, names)
	for i := range 2 * trace.DefaultScanDLQ {
		letters = append(letters, dlq.Letter{Destination: "stores", Reason: dlq.ReasonInvalidRow, Error: "x",
			Body: fmt.Appendf(nil, `{"event_id":"d-%d","email":"%064x"}`, i, i), SourceSubject: "tiktok.rows.stores", SourceSeq: uint64(i + 1), Attempts: 1})
		if len(letters) == cap(letters) {
			if err := pub.Publish(ctx, letters); err != nil {
				b.Fatal(err)
			}
			letters = letters[:0]
		}
	}
	for i := range 2 * trace.DefaultScanRows {
		if _, err := js.PublishAsync(names.RowsSubject("stores"), fmt.Appendf(nil, `{"event_id":"w-%d","email":"%064x"}`, i, i)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("publishes not acknowledged")
	}
	mem := dedup.NewMemory()
	if err := mem.Append(ctx, dedup.Record{Destination: "stores", AcceptedAt: time.Now(), RequestID: "req-1",
		Events: []dedup.Key{{Event: "Purchase", ID: "s-1"}}}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := trace.Trace(ctx, js, "stores", []string{"s-1"}, trace.Options{Names: names, Sent: mem}); err != nil {
			b.Fatal(err)
		}
	}
}
