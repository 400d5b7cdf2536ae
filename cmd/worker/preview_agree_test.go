package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
)

// TestPreviewAgreesWithPublish: for every file of the table, `worker publish` puts
// messages on the rows stream, and the worker's transform of those messages (one
// Transformer.Message each; an event whose name and id were already sent is a
// duplicate) gives exactly what `worker preview` shows for the same file: the same
// rows, the same events byte for byte (so the same groups), the same rejects in the
// same order, the same duplicates.
func TestPreviewAgreesWithPublish(t *testing.T) {
	read := func(name string) string { return string(readFile(t, filepath.Join("..", "..", "testdata", name))) }
	row := func(id, sku string) string {
		return fmt.Sprintf(`{"timestamp":"2025-11-24T11:00:00Z","event":"Purchase","event_id":%q,"email":"a@example.com","content_id":%q,"price":"2","quantity":1}`+"\n", id, sku)
	}
	tests := []struct {
		name, file, content string
		cfg                 events.Config
	}{
		{"offline jsonl", "offline.jsonl", read("offline.jsonl"), events.Config{EventSource: "offline", FixedEventName: "Purchase"}},
		{"offline json array", "offline.json", read("offline.json"), events.Config{EventSource: "offline"}},
		{"offline csv", "offline.csv", read("offline.csv"), events.Config{EventSource: "offline", FixedEventName: "Purchase"}},
		{"web jsonl", "web.jsonl", read("web.jsonl"), events.Config{EventSource: "web"}},
		{"orders example", "orders.csv", string(readFile(t, filepath.Join("..", "..", "examples", "orders.csv"))), events.Config{EventSource: "offline", FixedEventName: "Purchase"}},
		{"repeats and an array line", "rows.jsonl",
			row("o-1", "a") + row("o-1", "b") + row("o-2", "c") + row("o-1", "a") + "[" + strings.TrimSpace(row("o-3", "d")) + "," + strings.TrimSpace(row("o-3", "e")) + "]\n" + row("o-3", "f"),
			events.Config{EventSource: "offline"}},
		{"ragged csv rows inside an order", "ragged.csv",
			"timestamp,event,event_id,email,content_id,price,quantity\n" +
				"2025-11-24T11:00:00Z,Purchase,o-1,a@example.com,sku-1,2,1\n" +
				"2025-11-24T11:00:00Z,Purchase,o-1,a@example.com,sku-2,2\n" +
				"2025-11-24T11:00:00Z,Purchase,o-1,a@example.com,sku-3,2,1\n" +
				"2025-11-24T11:00:00Z,Purchase,o-2,b@example.com,\"sku-4,2,1\n" +
				"2025-11-24T11:00:00Z,Purchase,o-2,b@example.com,sku-5,2,1,extra\n",
			events.Config{EventSource: "offline"}},
		{"csv naming a column twice", "twice.csv",
			"timestamp,event,email,Email\n2025-11-24T11:00:00Z,Purchase,a@example.com,\n2025-11-24T11:00:00Z,Purchase,a@example.com,b@example.com\n",
			events.Config{EventSource: "offline"}},
	}
	now, _ := time.Parse(time.RFC3339, previewNow)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.file)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			// publish, then transform what landed on the stream as the worker does
			env := newToolEnv(t, true)
			out, stderr, code := runWorker(t, "", "publish", path, "--destination", "stores", "--config", env.config)
			if code != 0 {
				t.Fatalf("publish exit %d: %s", code, stderr)
			}
			m := regexp.MustCompile(`published (\d+) rows in (\d+) messages`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("publish summary %q", out)
			}
			pubRows, _ := strconv.Atoi(m[1])
			worker := workerView(t, env, tt.cfg, now)

			// preview the same file
			args := []string{"--event-source", tt.cfg.EventSource, "--now", previewNow}
			if tt.cfg.FixedEventName != "" {
				args = append(args, "--fixed-event-name", tt.cfg.FixedEventName)
			}
			stdout, stderr, code := runPreview(t, []byte(tt.content), args...)
			if code != 0 {
				t.Fatalf("preview exit %d: %s", code, stderr)
			}
			rejects, sum := parseStderr(t, stderr)
			var preview view
			for _, r := range rejects {
				preview.rejects = append(preview.rejects, r.Reason+" "+r.Field)
			}
			for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
				if line == "" {
					continue
				}
				var body struct{ Data []json.RawMessage }
				if err := json.Unmarshal([]byte(line), &body); err != nil {
					t.Fatal(err)
				}
				for _, ev := range body.Data {
					preview.events = append(preview.events, string(ev))
				}
			}
			preview.duplicates = sum.Summary.Duplicates

			if sum.Summary.Rows != pubRows {
				t.Errorf("rows: preview %d, publish %d", sum.Summary.Rows, pubRows)
			}
			if fmt.Sprint(preview.rejects) != fmt.Sprint(worker.rejects) {
				t.Errorf("rejects:\npreview %q\nworker  %q", preview.rejects, worker.rejects)
			}
			if strings.Join(preview.events, "\n") != strings.Join(worker.events, "\n") {
				t.Errorf("events:\npreview %s\nworker  %s", preview.events, worker.events)
			}
			if preview.duplicates != worker.duplicates {
				t.Errorf("duplicates: preview %d, worker %d", preview.duplicates, worker.duplicates)
			}
			if len(preview.events) == 0 && len(preview.rejects) == 0 {
				t.Error("the case shows nothing")
			}
		})
	}
}

type view struct {
	events     []string
	rejects    []string // reason and field, in order
	duplicates int
}

// workerView reads every message of the rows stream and transforms it as the worker
// does; a message that cannot be decoded is one malformed_message.
func workerView(t *testing.T, env toolEnv, cfg events.Config, now time.Time) view {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := env.js.Stream(ctx, env.names.RowsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Now = func() time.Time { return now }
	tr, err := events.NewTransformer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var v view
	sent := map[string]bool{}
	var res events.Result
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		msg, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Message(msg.Data, &res); err != nil {
			if !errors.Is(err, events.ErrMalformed) {
				t.Fatal(err)
			}
			v.rejects = append(v.rejects, string(events.ReasonMalformedMessage)+" ")
			continue
		}
		for _, r := range res.Rejects {
			v.rejects = append(v.rejects, string(r.Reason)+" "+r.Field)
		}
		v.duplicates += len(res.Duplicates)
		for _, ev := range res.Events {
			if key := ev.Name + "\x00" + ev.ID; sent[key] {
				v.duplicates += len(ev.Rows)
				continue
			} else {
				sent[key] = true
			}
			v.events = append(v.events, string(ev.JSON))
		}
	}
	return v
}
