package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/logbuf"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// TestReplayedOrderIsSentWhole: the dead-lettered line items of one order, once
// replayed, reach TikTok as ONE event with every item and the summed value — not as
// an event of the first item and duplicates of it.
func TestReplayedOrderIsSentWhole(t *testing.T) {
	const token = "replay-e2e-access-token-1b7d"
	t.Setenv("NATS_URL", "")
	t.Setenv("TIKTOK_API_BASE", "")
	t.Setenv("REPLAY_TEST_TIKTOK_TOKEN", token)
	srv := natstest.RunServer(t)
	_, js := natstest.Connect(t, srv)
	names := broker.NamesFor("")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := broker.Ensure(ctx, js, broker.Topology{Names: names, Destinations: []string{"stores"}}); err != nil {
		t.Fatal(err)
	}
	sandbox := tiktoktest.NewServer()
	defer sandbox.Close()
	sandbox.AddToken(token)
	cfgPath := filepath.Join(t.TempDir(), "worker.yaml")
	writeFile(t, cfgPath, fmt.Sprintf("nats:\n  url: %s\ntiktok:\n  api_base: %s\n  access_token_env: REPLAY_TEST_TIKTOK_TOKEN\ndelivery:\n  max_wait: 50ms\nhttp:\n  listen: \"\"\n",
		srv.ClientURL(), sandbox.URL)+strings.Replace(storesDestination, "event_source: offline", "event_source: offline\n    fixed_event_name: Purchase", 1))

	// The order's two line items as the worker dead-letters them (PII hashed), fixed.
	now := time.Now().Unix()
	var letters []dlq.Letter
	for i, item := range []string{`"content_id":"sku-1","price":"19.99","quantity":"2"`, `"content_id":"sku-2","price":"5.00","quantity":"1"`} {
		letters = append(letters, dlq.Letter{Destination: "stores", Reason: dlq.ReasonInvalidRow, Error: "price: not a number (row 2)", Field: "price",
			Body:          []byte(fmt.Sprintf(`{"event_id":"o-9","timestamp":%d,"email":"%s","currency":"USD",%s}`, now, hashedEmail, item)),
			SourceSubject: names.RowsSubject("stores"), SourceSeq: 3, Row: i, Attempts: 1})
	}
	if err := dlq.NewPublisher(js, names).Publish(ctx, letters); err != nil {
		t.Fatal(err)
	}
	if out, stderr, code := runWorker(t, "", "dlq", "replay", "--config", cfgPath); code != 0 || !strings.Contains(out, "as one message") {
		t.Fatalf("replay: exit %d\n%s%s", code, out, stderr)
	}

	stderr := &logbuf.Buffer{}
	a := &app{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: stderr}
	root := a.root()
	root.SetArgs([]string{"run", "--config", cfgPath})
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(runCtx) }()
	defer func() {
		stop()
		<-done
	}()
	pollUntil(t, 20*time.Second, "the order accepted by the sandbox", func() bool {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("run returned early: %v\n%s", err, stderr.String())
		default:
		}
		return sandbox.AcceptedCount() >= 1
	})
	acc := sandbox.Accepted()
	if len(acc) != 1 || acc[0].EventID != "o-9" {
		t.Fatalf("accepted %+v, want the one event o-9", acc)
	}
	var ev struct {
		Properties struct {
			Contents []struct {
				ContentID string `json:"content_id"`
			} `json:"contents"`
			Value float64 `json:"value"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(acc[0].Raw, &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Properties.Contents) != 2 || ev.Properties.Value != 44.98 {
		t.Fatalf("the order was sent as %s; want both items and value 44.98", acc[0].Raw)
	}
}
