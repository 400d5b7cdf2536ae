package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
)

func TestPublishCommand(t *testing.T) {
	tests := []struct {
		name, file, content string
		args                []string
		wantMsgs            uint64
		wantSummary         string
	}{
		{
			name: "csv file groups line items",
			file: "orders.csv",
			content: "timestamp,event,event_id,email,content_id,price,quantity\n" +
				"1763980000,Purchase,o-1,a@example.com,sku-1,19.99,3\n" +
				"1763980000,Purchase,o-1,a@example.com,sku-2,5,1\n" +
				"1763980100,Purchase,o-2,b@example.com,sku-3,1,\n",
			wantMsgs:    2,
			wantSummary: "published 3 rows in 2 messages to tiktok.rows.stores: 2 acknowledged, 0 failed",
		},
		{
			name: "jsonl from stdin, sniffed, malformed line kept",
			file: "-",
			content: `{"event_id":"o-1","email":"a@example.com"}
{"event_id":"o-1","email":"a@example.com","content_id":"x"}
this is not json
`,
			wantMsgs:    2,
			wantSummary: "published 3 rows in 2 messages",
		},
		{
			name:        "format forced",
			file:        "rows.txt",
			content:     "event_id,email\n1,a@example.com\n2,b@example.com\n",
			args:        []string{"--format", "csv"},
			wantMsgs:    2,
			wantSummary: "published 2 rows in 2 messages",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newToolEnv(t, true)
			stdin := ""
			path := tt.file
			if tt.file == "-" {
				stdin = tt.content
			} else {
				path = filepath.Join(t.TempDir(), tt.file)
				if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			args := append([]string{"publish", path, "--destination", "stores", "--config", env.config}, tt.args...)
			out, stderr, code := runWorker(t, stdin, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(out, tt.wantSummary) || !strings.Contains(out, "rows/s") {
				t.Errorf("summary = %q, want %q", out, tt.wantSummary)
			}
			// Not a terminal: no progress-bar escape codes or carriage returns.
			if strings.ContainsAny(stderr+out, "\x1b\r") {
				t.Errorf("non-terminal output has terminal control codes: %q / %q", out, stderr)
			}
			s, err := env.js.Stream(context.Background(), env.names.RowsStream)
			if err != nil {
				t.Fatal(err)
			}
			info, _ := s.Info(context.Background())
			if info.State.Msgs != tt.wantMsgs {
				t.Errorf("rows stream holds %d messages, want %d", info.State.Msgs, tt.wantMsgs)
			}
		})
	}
}

func TestPublishCommandFailures(t *testing.T) {
	env := newToolEnv(t, false) // no streams
	path := filepath.Join(t.TempDir(), "rows.jsonl")
	if err := os.WriteFile(path, []byte(`{"event_id":"1"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"no destination", []string{"publish", path}, 2, "--destination"},
		{"bad destination", []string{"publish", path, "--destination", "a.b"}, 2, "--destination"},
		{"bad format", []string{"publish", path, "--destination", "stores", "--format", "xml"}, 2, "--format"},
		{"missing file", []string{"publish", path + ".nope", "--destination", "stores"}, 1, "no such file"},
		{"no file", []string{"publish", "--destination", "stores"}, 2, "arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runWorker(t, "", append(tt.args, "--config", env.config)...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tt.wantCode, tt.want)
			}
		})
	}
}

// TestPublishCommandRaggedCSV: a record with another number of fields than the
// header is one unreadable row, published as it came and named on stderr by its
// line; the rows around it are published as usual.
func TestPublishCommandRaggedCSV(t *testing.T) {
	env := newToolEnv(t, true)
	path := filepath.Join(t.TempDir(), "rows.csv")
	if err := os.WriteFile(path, []byte("event_id,email\n1,a@example.com\n2,b@example.com,extra\n3,c@example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runWorker(t, "", "publish", path, "--destination", "stores", "--config", env.config)
	if code != 0 || !strings.Contains(stderr, "line 3: the CSV record has 3 fields but the header has 2") || !strings.Contains(out, "published 3 rows in 3 messages") {
		t.Errorf("exit %d, out %q, stderr %q; want 0, line 3 named and every row published", code, out, stderr)
	}
	if strings.Contains(stderr, "b@example.com") {
		t.Errorf("stderr quotes the row: %q", stderr)
	}
}

func TestPublishHelp(t *testing.T) {
	out, _, code := runWorker(t, "", "publish", "--help")
	if code != 0 || !strings.Contains(out, "--destination") || !strings.Contains(out, "malformed_message") {
		t.Errorf("publish --help (exit %d) =\n%s", code, out)
	}
}

// TestPublishCommandCreatesTopology: on a server where nothing exists yet, publish
// creates the topology (streams, buckets, the configured destinations' consumers)
// and the rows wait in the stream for the first `worker run`.
func TestPublishCommandCreatesTopology(t *testing.T) {
	env := newToolEnv(t, false)
	cfgPath := filepath.Join(t.TempDir(), "worker.yaml")
	writeFile(t, cfgPath, "nats:\n  url: "+natsURL(t, env)+"\n  subject_prefix: acme\n"+storesDestination)
	path := filepath.Join(t.TempDir(), "rows.jsonl")
	writeFile(t, path, `{"event_id":"1"}`+"\n"+`{"event_id":"2"}`+"\n")

	out, stderr, code := runWorker(t, "", "publish", path, "--destination", "stores", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "published 2 rows in 2 messages to acme.rows.stores: 2 acknowledged") {
		t.Fatalf("exit %d, out %q, stderr %q", code, out, stderr)
	}
	if !strings.Contains(stderr, "created the rows stream ACME_ROWS") {
		t.Errorf("stderr %q does not say the stream was created", stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	names := broker.NamesFor("acme")
	s, err := env.js.Stream(ctx, names.RowsStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Msgs; n != 2 {
		t.Errorf("rows stream holds %d messages, want 2", n)
	}
	if _, err := s.Consumer(ctx, names.ConsumerName("stores")); err != nil {
		t.Errorf("the configured destination's consumer: %v", err)
	}
	if _, err := env.js.KeyValue(ctx, names.TokenBucket); err != nil {
		t.Errorf("bucket %s: %v", names.TokenBucket, err)
	}
	// The first version's dedup bucket is only read by the upgrade, never created.
	for _, b := range []string{config.DefaultDedupBucket, names.DedupBucket} {
		if _, err := env.js.KeyValue(ctx, b); !errors.Is(err, jetstream.ErrBucketNotFound) {
			t.Errorf("bucket %s: %v, want it not created", b, err)
		}
	}
	if _, err := env.js.Stream(ctx, names.DLQStream); err != nil {
		t.Errorf("DLQ stream: %v", err)
	}

	// A second publish finds the stream and says nothing about creating it.
	_, stderr, code = runWorker(t, "", "publish", path, "--destination", "stores", "--config", cfgPath)
	if code != 0 || strings.Contains(stderr, "created") {
		t.Errorf("second publish: exit %d, stderr %q", code, stderr)
	}
}

// TestPublishCommandLeavesTopologyAlone: a publish with another configuration than
// the workers' (here the defaults) must not reconfigure the running fleet's consumer.
func TestPublishCommandLeavesTopologyAlone(t *testing.T) {
	env := newToolEnv(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := broker.Ensure(ctx, env.js, broker.Topology{Names: env.names, Destinations: []string{"stores"}, MaxAckPending: 77}); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "worker.yaml")
	writeFile(t, cfgPath, "nats:\n  url: "+natsURL(t, env)+"\n"+storesDestination)
	path := filepath.Join(t.TempDir(), "rows.jsonl")
	writeFile(t, path, `{"event_id":"1"}`+"\n")
	if _, stderr, code := runWorker(t, "", "publish", path, "--destination", "stores", "--config", cfgPath); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	c, err := env.js.Consumer(ctx, env.names.RowsStream, env.names.ConsumerName("stores"))
	if err != nil {
		t.Fatal(err)
	}
	if n := c.CachedInfo().Config.MaxAckPending; n != 77 {
		t.Errorf("publish changed the consumer's max_ack_pending to %d", n)
	}
}

const storesDestination = `destinations:
  - name: stores
    advertiser_id: "7654321098765432109"
    event_source: offline
    event_source_id: "7654321098765432109"
`

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// natsURL reads the server URL back from the tool environment's config file.
func natsURL(t *testing.T, env toolEnv) string {
	t.Helper()
	b, err := os.ReadFile(env.config)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if u, ok := strings.CutPrefix(strings.TrimSpace(line), "url: "); ok {
			return u
		}
	}
	t.Fatal("no url in the tool config")
	return ""
}
