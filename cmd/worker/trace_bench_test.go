package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/trace"
)

// BenchmarkTraceCommand is one `worker trace` of one id, as an operator runs it,
// against a sent log remembering 1,000,000 events (1,000 requests of 1,000), a DLQ of
// twice --scan-dlq letters and twice --scan-rows waiting messages (so both bounds
// cut). The figure is what an operator waits for.
func BenchmarkTraceCommand(b *testing.B) {
	env := newToolEnv(b, false)
	ctx := context.Background()
	if err := broker.Ensure(ctx, env.js, broker.Topology{Names: env.names, Destinations: []string{"stores"}}); err != nil {
		b.Fatal(err)
	}
	sent, err := dedup.OpenSentLog(ctx, env.js, env.names, []string{"stores"})
	if err != nil {
		b.Fatal(err)
	}
	for r := range 1000 {
		rec := dedup.Record{Destination: "stores", AcceptedAt: time.Now(), RequestID: fmt.Sprint("req-", r)}
		for e := range 1000 {
			rec.Events = append(rec.Events, dedup.Key{Event: "Purchase", ID: fmt.Sprintf("s-%d-%d", r, e)})
		}
		if err := sent.Append(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
	sent.Close()
	pub := dlq.NewPublisher(env.js, env.names)
	var letters []dlq.Letter
	for i := range 2 * trace.DefaultScanDLQ {
		letters = append(letters, dlq.Letter{Destination: "stores", Reason: dlq.ReasonInvalidRow, Error: "x",
			Body: fmt.Appendf(nil, `{"event_id":"d-%d","email":"%064x"}`, i, i), SourceSubject: "tiktok.rows.stores", SourceSeq: uint64(i + 1), Attempts: 1})
		if len(letters) == 1000 {
			if err := pub.Publish(ctx, letters); err != nil {
				b.Fatal(err)
			}
			letters = letters[:0]
		}
	}
	for i := range 2 * trace.DefaultScanRows {
		if _, err := env.js.PublishAsync(env.names.RowsSubject("stores"), fmt.Appendf(nil, `{"event_id":"w-%d"}`, i)); err != nil {
			b.Fatal(err)
		}
	}
	<-env.js.PublishAsyncComplete()
	for _, bb := range []struct {
		name string
		args []string
	}{
		{"default-bounds", nil},
		{"sent-log-only", []string{"--scan-dlq", "1", "--scan-rows", "1"}}, // the catch-up alone
	} {
		b.Run(bb.name, func(b *testing.B) {
			args := append([]string{"trace", "--config", env.config, "--destination", "stores", "s-999-999"}, bb.args...)
			for b.Loop() {
				out, stderr, code := runWorker(b, "", args...)
				if code != 0 || !strings.Contains(out, "req-999") {
					b.Fatalf("exit %d\n%s%s", code, out, stderr)
				}
			}
		})
	}
}
