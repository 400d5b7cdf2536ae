package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
)

func TestDLQLsEventIDColumn(t *testing.T) {
	env := newToolEnv(t, true)
	seedLetters(t, env)
	out, stderr, code := runWorker(t, "", "dlq", "ls", "--config", env.config)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if !strings.Contains(lines[0], "EVENT ID") {
		t.Fatalf("no EVENT ID column: %q", lines[0])
	}
	col := strings.Index(lines[0], "EVENT ID")
	for i, want := range []string{"o-1", "o-2", "-"} {
		if got := strings.Fields(lines[i+1][col:])[0]; got != want {
			t.Errorf("row %d event id %q, want %q:\n%s", i+1, got, want, out)
		}
	}
	if strings.Contains(out, hashedEmail) {
		t.Error("the table shows a PII column")
	}
}

// TestDLQLsJSONIsValidUTF8: a letter holding bytes that are not UTF-8 (in its body and
// its error) comes out as valid UTF-8 JSON, the bad bytes as \xNN.
func TestDLQLsJSONIsValidUTF8(t *testing.T) {
	env := newToolEnv(t, true)
	ls := []dlq.Letter{
		{Destination: "stores", Reason: dlq.ReasonMalformedMessage, Error: "bad \xff byte", Body: []byte("{\"event_id\":\"o-\xfe1\"}"),
			SourceSubject: "tiktok.rows.stores", SourceSeq: 1, Attempts: 1},
		{Destination: "stores", Reason: dlq.ReasonMalformedMessage, Error: "not JSON", Body: []byte("caf\xc3\xa9 \xc3"),
			SourceSubject: "tiktok.rows.stores", SourceSeq: 2, Attempts: 1},
	}
	if err := dlq.NewPublisher(env.js, env.names).Publish(context.Background(), ls); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runWorker(t, "", "dlq", "ls", "--config", env.config, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !utf8.ValidString(out) {
		t.Fatalf("--json output is not valid UTF-8: %q", out)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	want := []struct{ body, errText string }{
		{`{"event_id":"o-\xFE1"}`, `bad \xFF byte`},
		{`café \xC3`, "not JSON"},
	}
	for i, line := range lines {
		var got struct {
			Body        string `json:"body"`
			BodyEscaped bool   `json:"body_escaped"`
			Error       string `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, line)
		}
		if got.Body != want[i].body || !got.BodyEscaped || got.Error != want[i].errText {
			t.Errorf("line %d = %+v, want body %q (escaped) and error %q", i, got, want[i].body, want[i].errText)
		}
	}
	table, _, _ := runWorker(t, "", "dlq", "ls", "--config", env.config)
	if !utf8.ValidString(table) || !strings.Contains(table, `bad \xFF byte`) {
		t.Errorf("table:\n%q", table)
	}
}

func TestDLQRm(t *testing.T) {
	env := newToolEnv(t, true)
	seedLetters(t, env)
	left := func() int {
		es, err := dlq.List(context.Background(), env.js, env.names, dlq.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		want     []string
		wantLeft int
	}{
		{"nothing chosen", nil, 2, []string{"nothing chosen", "--all"}, 3},
		{"seq and filter", []string{"1", "--reason", "rejected"}, 2, []string{"not both"}, 3},
		{"not a seq", []string{"x1"}, 2, []string{`"x1" is not a letter's sequence`}, 3},
		{"dry run", []string{"--reason", "rejected", "--dry-run"}, 0, []string{"would remove letter 2 (stores, rejected, event o-2, failed 2025-11-24T11:00:00Z)", "dry run: 1 letters would be removed"}, 3},
		{"by filter", []string{"--destination", "stores", "--reason", "rejected"}, 0, []string{"removed letter 2 (stores, rejected, event o-2", "removed 1 letters"}, 2},
		{"by seq", []string{"3"}, 0, []string{"removed letter 3 (web, malformed_message, failed", "removed 1 letters"}, 1},
		{"a seq no longer there", []string{"3", "1"}, 1, []string{"removed letter 1", "letter 3: not in TIKTOK_DLQ"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, code := runWorker(t, "", append([]string{"dlq", "rm", "--config", env.config}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(out+stderr, w) {
					t.Errorf("output lacks %q:\n%s%s", w, out, stderr)
				}
			}
			if n := left(); n != tt.wantLeft {
				t.Errorf("%d letters left, want %d", n, tt.wantLeft)
			}
		})
	}
}

// TestDLQReplayOrderWhole: the dead-lettered line items of one order go back to the
// rows stream as one message, through the CLI.
func TestDLQReplayOrderWhole(t *testing.T) {
	env := newToolEnv(t, true)
	var ls []dlq.Letter
	for i, sku := range []string{"sku-1", "sku-2"} {
		ls = append(ls, dlq.Letter{Destination: "stores", Reason: dlq.ReasonInvalidRow, Error: "price: not a number", Field: "price",
			Body:          []byte(`{"event_id":"o-9","content_id":"` + sku + `"}`),
			SourceSubject: "tiktok.rows.stores", SourceSeq: 7, Row: i, Attempts: 1})
	}
	if err := dlq.NewPublisher(env.js, env.names).Publish(context.Background(), ls); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "worker.yaml")
	writeFile(t, cfgPath, "nats:\n  url: "+natsURL(t, env)+"\n"+storesDestination)
	out, stderr, code := runWorker(t, "", "dlq", "replay", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "republished letters 1, 2, the 2 rows of event o-9 (invalid_row") || !strings.Contains(out, "replayed 2 letters in 1 messages") {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	s, _ := env.js.Stream(context.Background(), env.names.RowsStream)
	m, err := s.GetMsg(context.Background(), 1)
	if err != nil || string(m.Data) != `[`+string(ls[0].Body)+`,`+string(ls[1].Body)+`]` {
		t.Fatalf("rows message = %q, %v", m.Data, err)
	}
}
