package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{"no stream", []string{"publish", path, "--destination", "stores"}, 1, "worker run"},
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

func TestPublishCommandBadCSVExitsNonZero(t *testing.T) {
	env := newToolEnv(t, true)
	path := filepath.Join(t.TempDir(), "rows.csv")
	if err := os.WriteFile(path, []byte("event_id,email\n1,a@example.com\n2,b@example.com,extra\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runWorker(t, "", "publish", path, "--destination", "stores", "--config", env.config)
	if code != 1 || !strings.Contains(stderr, "line 3") || !strings.Contains(out, "published 1 rows") {
		t.Errorf("exit %d, out %q, stderr %q; want 1, the line named and the row before it published", code, out, stderr)
	}
}

func TestPublishHelp(t *testing.T) {
	out, _, code := runWorker(t, "", "publish", "--help")
	if code != 0 || !strings.Contains(out, "--destination") || !strings.Contains(out, "malformed_message") {
		t.Errorf("publish --help (exit %d) =\n%s", code, out)
	}
}
