package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/trace"
)

// traceEnv is a JetStream server with the topology of one destination "stores" (rows
// stream, its durable consumer, DLQ, sent log), a config naming it, and events
// in each place an id can be:
//
//	sent-1     accepted by TikTok (a record in the sent log)
//	dead-1     dead-lettered (invalid_row, DLQ seq 1)
//	wait-1     waiting, delivered to the consumer and not acked
//	wait-2     waiting twice, not yet delivered (an order of two line items, then a copy)
//	both-1     accepted, and a re-published copy waiting
//	nowhere-1  unknown
type traceEnv struct {
	toolEnv
	cfg      string
	accepted time.Time
}

func newTraceEnv(t *testing.T) traceEnv {
	t.Helper()
	env := newToolEnv(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := broker.Ensure(ctx, env.js, broker.Topology{Names: env.names, Destinations: []string{"stores"}}); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "worker.yaml")
	writeFile(t, cfgPath, "nats:\n  url: "+natsURL(t, env)+"\n"+storesDestination)
	te := traceEnv{toolEnv: env, cfg: cfgPath, accepted: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)}

	sent, err := dedup.OpenSentLog(ctx, env.js, env.names, []string{"stores"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []dedup.Record{
		{Destination: "stores", AcceptedAt: te.accepted, RequestID: "req-sent-1", Events: []dedup.Key{{Event: "Purchase", ID: "sent-1"}}},
		{Destination: "stores", AcceptedAt: te.accepted, RequestID: "req-both-1", Events: []dedup.Key{{Event: "Purchase", ID: "both-1"}}},
	} {
		if err := sent.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	sent.Close()
	if err := dlq.NewPublisher(env.js, env.names).Publish(ctx, []dlq.Letter{{
		Destination: "stores", Reason: dlq.ReasonInvalidRow, Error: "phone: is not a possible number", Field: "phone",
		Body: []byte(`{"event_id":"dead-1","phone":"` + hashedEmail + `"}`), SourceSubject: "tiktok.rows.stores", SourceSeq: 1, Attempts: 1,
		FailedAt: te.accepted,
	}}); err != nil {
		t.Fatal(err)
	}
	subject := env.names.RowsSubject("stores")
	for _, body := range []string{
		`{"event_id":"wait-1","email":"a@example.com"}`,
		`[{"event_id":"wait-2","content_id":"sku-1"},{"event_id":"wait-2","content_id":"sku-2"}]`,
		`{"event_id":"both-1"}`,
		`{"event_id":"wait-2","content_id":"sku-1"}`,
		`not json at all`,
	} {
		if _, err := env.js.Publish(ctx, subject, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	// The first message is delivered to the destination's consumer and not acked, as
	// a replica holding it would.
	cons, err := env.js.Consumer(ctx, env.names.RowsStream, env.names.ConsumerName("stores"))
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for range batch.Messages() {
	}
	return te
}

type traceLine struct {
	EventID      string   `json:"event_id"`
	Destination  string   `json:"destination"`
	Places       []string `json:"places"`
	Sent         []trace.Sent
	DeadLettered []trace.Letter `json:"dead_lettered"`
	Waiting      *trace.Waiting
	Coverage     trace.Coverage
}

func TestTraceEveryPlace(t *testing.T) {
	te := newTraceEnv(t)
	out, stderr, code := runWorker(t, "", "trace", "--config", te.cfg, "--destination", "stores", "--json",
		"sent-1", "dead-1", "wait-1", "wait-2", "both-1", "nowhere-1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	got := map[string]traceLine{}
	for _, l := range lines {
		var tl traceLine
		if err := json.Unmarshal([]byte(l), &tl); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		got[tl.EventID] = tl
	}
	tests := []struct {
		id     string
		places string
		check  func(traceLine) bool
	}{
		{"sent-1", "[sent]", func(l traceLine) bool {
			return len(l.Sent) == 1 && l.Sent[0].RequestID == "req-sent-1" && l.Sent[0].AcceptedAt.Equal(te.accepted)
		}},
		{"dead-1", "[dead_lettered]", func(l traceLine) bool {
			d := l.DeadLettered
			return len(d) == 1 && d[0].Seq == 1 && d[0].Reason == "invalid_row" && d[0].Field == "phone" &&
				d[0].Error == "phone: is not a possible number" && d[0].FailedAt.Equal(te.accepted)
		}},
		{"wait-1", "[waiting]", func(l traceLine) bool {
			return len(l.Waiting.Copies) == 1 && l.Waiting.Copies[0].Seq == 1 && l.Waiting.Copies[0].Delivered
		}},
		{"wait-2", "[waiting]", func(l traceLine) bool {
			c := l.Waiting.Copies
			return len(c) == 2 && c[0].Seq == 2 && c[0].Rows == 2 && !c[0].Delivered && c[1].Seq == 4 && c[1].Rows == 1
		}},
		{"both-1", "[sent waiting]", func(l traceLine) bool {
			return len(l.Sent) == 1 && l.Sent[0].RequestID == "req-both-1" && len(l.Waiting.Copies) == 1 && l.Waiting.Copies[0].Seq == 3
		}},
		{"nowhere-1", "[unknown]", func(l traceLine) bool {
			return l.Sent == nil && l.DeadLettered == nil && l.Waiting == nil
		}},
	}
	for _, tt := range tests {
		l, ok := got[tt.id]
		if !ok {
			t.Errorf("no line for %s", tt.id)
			continue
		}
		if p := strings.Join(l.Places, " "); "["+p+"]" != tt.places || l.Destination != "stores" || !tt.check(l) {
			t.Errorf("%s: %+v (waiting %+v); want places %s", tt.id, l, l.Waiting, tt.places)
		}
	}
	c := got["sent-1"].Coverage
	if !c.SentLog || c.DLQScanned != 1 || !c.DLQComplete || c.RowsScanned != 5 || c.RowsWaiting != 5 || !c.RowsComplete {
		t.Errorf("coverage %+v", c)
	}

	// The table says the same, one line per place, and never shows a row's PII.
	out, stderr, code = runWorker(t, "", "trace", "--config", te.cfg, "--destination", "stores", "sent-1", "dead-1", "wait-1", "wait-2", "nowhere-1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"sent-1     sent           Purchase accepted 2026-11-30T08:00:00Z, TikTok request id req-sent-1 (sent log record 1)",
		"dead-1     dead-lettered  invalid_row at 2026-11-30T08:00:00Z, DLQ seq 1: phone: is not a possible number",
		"wait-1     waiting        1 copy in tiktok.rows.stores: seq 1 (1 rows, published ",
		", delivered, awaiting ack); the consumer is redelivering 0 messages",
		"wait-2     waiting        2 copies in tiktok.rows.stores: seq 2 (2 rows",
		"nowhere-1  unknown        not in what was read",
		"read: the sent log (indexed: every accepted event it remembers); all 1 dead letters of the destination; all 5 messages waiting on tiktok.rows.stores",
	} {
		if !strings.Contains(squash(out), squash(want)) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "a@example.com") || strings.Contains(out, hashedEmail) {
		t.Errorf("the table shows a row's PII:\n%s", out)
	}
}

// TestTraceBounded: with bounds of 1, trace reads one letter and one waiting message and
// says that it left the rest unread.
func TestTraceBounded(t *testing.T) {
	te := newTraceEnv(t)
	if err := dlq.NewPublisher(te.js, te.names).Publish(context.Background(), []dlq.Letter{{
		Destination: "stores", Reason: dlq.ReasonRejected, Error: "x", Body: []byte(`{"event_id":"dead-2"}`),
		SourceSubject: "tiktok.rows.stores", SourceSeq: 9, Attempts: 1,
	}}); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runWorker(t, "", "trace", "--config", te.cfg, "--destination", "stores", "--scan-dlq", "1", "--scan-rows", "1", "dead-1", "dead-2", "wait-2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"dead-1  unknown",
		"dead-2  dead-lettered  rejected",
		"wait-2  unknown",
		"the destination's 1 letters among the newest 1 of the DLQ (older ones not read; --scan-dlq reads more)",
		"the first 1 of 5 messages waiting on tiktok.rows.stores (later ones not read; --scan-rows reads more)",
	} {
		if !strings.Contains(squash(out), squash(want)) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestTraceSentLog: trace reads the sent log through dedup.Store's Lookup: the event
// name, the request id and the record's sequence.
func TestTraceSentLog(t *testing.T) {
	te := newTraceEnv(t)
	mem := dedup.NewMemory()
	if err := mem.Append(context.Background(), dedup.Record{Destination: "stores", AcceptedAt: te.accepted, RequestID: "req-log-1",
		Events: []dedup.Key{{Event: "Purchase", ID: "log-1"}, {Event: "Purchase", ID: "other"}}}); err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		openSent: func(context.Context, *toolConn) (trace.SentLookup, error) { return mem, nil }}
	root := a.root()
	root.SetArgs([]string{"trace", "--config", te.cfg, "--destination", "stores", "log-1", "sent-1"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	for _, want := range []string{
		"log-1   sent     Purchase accepted 2026-11-30T08:00:00Z, TikTok request id req-log-1 (sent log record 1)",
		"sent-1  unknown", // the KV receipt is not in this sent log
	} {
		if !strings.Contains(squash(out.String()), squash(want)) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestTraceUsage(t *testing.T) {
	te := newTraceEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--destination", "stores"}, "requires at least 1 arg"},
		{[]string{"x"}, `"destination" not set`},
		{[]string{"--destination", "a.b", "x"}, `--destination "a.b"`},
		{[]string{"--destination", "nosuch", "x"}, `--destination "nosuch" is not a destination of the configuration`},
		{[]string{"--destination", "stores", "--scan-rows", "0", "x"}, "--scan-rows 0"},
	} {
		_, stderr, code := runWorker(t, "", append([]string{"trace", "--config", te.cfg}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("trace %v: exit %d, %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// squash collapses runs of spaces, so that a test does not depend on column widths.
func squash(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}
