package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
)

// toolEnv is a JetStream server with the worker's topology and a config file that
// points at it, for the operator tools' tests.
type toolEnv struct {
	js     jetstream.JetStream
	names  broker.Names
	config string
}

func newToolEnv(t *testing.T, ensure bool) toolEnv {
	t.Helper()
	t.Setenv("NATS_URL", "") // the config file decides, whatever the developer's shell says
	s := natstest.RunServer(t)
	_, js := natstest.Connect(t, s)
	names := broker.NamesFor("tiktok")
	if ensure {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := broker.Ensure(ctx, js, broker.Topology{Names: names}); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "worker.yaml")
	if err := os.WriteFile(path, []byte("nats:\n  url: "+s.ClientURL()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return toolEnv{js: js, names: names, config: path}
}

// runWorker runs the CLI with args and returns its stdout, stderr and exit code.
func runWorker(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb}
	root := a.root()
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := root.ExecuteContext(ctx); err != nil {
		errb.WriteString("error: " + err.Error() + "\n")
		return out.String(), errb.String(), exitCode(err)
	}
	return out.String(), errb.String(), 0
}

const hashedEmail = "b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514"

func seedLetters(t *testing.T, env toolEnv) []dlq.Letter {
	t.Helper()
	at := time.Date(2025, 11, 24, 10, 0, 0, 0, time.UTC)
	ls := []dlq.Letter{
		{Destination: "stores", Reason: dlq.ReasonInvalidRow, Error: "phone: not a possible number", Field: "phone",
			Body: []byte(`{"event_id":"o-1","email":"` + hashedEmail + `"}`), SourceSubject: "tiktok.rows.stores", SourceSeq: 1, Attempts: 1, FailedAt: at},
		{Destination: "stores", Reason: dlq.ReasonRejected, Error: "TikTok refused the event:\tinvalid\nevent name " + strings.Repeat("x", 100), TikTokCode: 40002, TikTokReqID: "req-1",
			Body: []byte(`{"event_id":"o-2","email":"` + hashedEmail + `"}`), SourceSubject: "tiktok.rows.stores", SourceSeq: 2, Attempts: 1, FailedAt: at.Add(time.Hour)},
		{Destination: "web", Reason: dlq.ReasonMalformedMessage, Error: "not JSON",
			Body: []byte(`{broken`), SourceSubject: "tiktok.rows.web", SourceSeq: 1, Attempts: 1, FailedAt: at.Add(2 * time.Hour)},
	}
	if err := dlq.NewPublisher(env.js, env.names).Publish(context.Background(), ls); err != nil {
		t.Fatal(err)
	}
	return ls
}

func TestDLQLs(t *testing.T) {
	env := newToolEnv(t, true)
	seedLetters(t, env)

	out, stderr, code := runWorker(t, "", "dlq", "ls", "--config", env.config)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "SEQ") {
		t.Fatalf("table =\n%s", out)
	}
	for _, h := range []string{"FAILED AT", "DESTINATION", "REASON", "EVENT ID", "FIELD", "CODE", "ERROR"} {
		if !strings.Contains(lines[0], h) {
			t.Errorf("header %q missing in %q", h, lines[0])
		}
	}
	for _, want := range []string{"2025-11-24T10:00:00Z", "invalid_row", "phone", "40002", "malformed_message", "…"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, hashedEmail) || strings.Contains(out, "{broken") {
		t.Errorf("the table shows a body:\n%s", out)
	}
	if strings.Contains(out, strings.Repeat("x", 100)) || strings.Contains(lines[2], "\t") {
		t.Errorf("a long or tabbed error is not truncated:\n%s", out)
	}

	out, _, code = runWorker(t, "", "dlq", "ls", "--config", env.config, "--destination", "stores", "--reason", "rejected")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, "rejected") {
		t.Errorf("filtered ls (exit %d) =\n%s", code, out)
	}
	out, _, _ = runWorker(t, "", "dlq", "ls", "--config", env.config, "--since", "2025-11-24T00:00:00Z", "--limit", "1")
	if strings.Count(out, "invalid_row") != 1 || strings.Contains(out, "rejected") || !strings.Contains(out, "--limit 0") {
		t.Errorf("ls --limit 1 =\n%s", out)
	}
	out, _, _ = runWorker(t, "", "dlq", "ls", "--config", env.config, "--since", "1h")
	if strings.Count(out, "\n") != 4 {
		t.Errorf("ls --since 1h (letters stored just now) =\n%s", out)
	}
}

func TestDLQLsJSON(t *testing.T) {
	env := newToolEnv(t, true)
	ls := seedLetters(t, env)
	out, stderr, code := runWorker(t, "", "dlq", "ls", "--config", env.config, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != len(ls) {
		t.Fatalf("%d JSON lines, want %d:\n%s", len(lines), len(ls), out)
	}
	var first struct {
		Seq         uint64          `json:"seq"`
		Destination string          `json:"destination"`
		Reason      string          `json:"reason"`
		Field       string          `json:"field"`
		FailedAt    time.Time       `json:"failed_at"`
		Body        json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.Seq != 1 || first.Destination != "stores" || first.Reason != "invalid_row" || first.Field != "phone" ||
		!first.FailedAt.Equal(ls[0].FailedAt) || string(first.Body) != string(ls[0].Body) {
		t.Errorf("first line = %s", lines[0])
	}
	var last struct {
		Body string `json:"body"`
	}
	if err := json.Unmarshal([]byte(lines[2]), &last); err != nil || last.Body != "{broken" {
		t.Errorf("malformed body = %q, %v; want it as a string", last.Body, err)
	}
}

func TestDLQStats(t *testing.T) {
	env := newToolEnv(t, true)
	seedLetters(t, env)
	out, stderr, code := runWorker(t, "", "dlq", "stats", "--config", env.config)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"DESTINATION", "OLDEST", "NEWEST", "stores", "invalid_row", "rejected", "web", "malformed_message", "2025-11-24T11:00:00Z"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || strings.Join(strings.Fields(lines[4]), " ") != "total 3" {
		t.Errorf("stats total wrong:\n%s", out)
	}
	out, _, _ = runWorker(t, "", "dlq", "stats", "--config", env.config, "--json", "--destination", "web")
	var c dlq.Count
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &c); err != nil || c.Count != 1 || c.Reason != "malformed_message" {
		t.Errorf("stats --json = %s (%v)", out, err)
	}
}

func TestDLQReplay(t *testing.T) {
	env := newToolEnv(t, true)
	ls := seedLetters(t, env)
	count := func(stream string) uint64 {
		s, err := env.js.Stream(context.Background(), stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}

	out, stderr, code := runWorker(t, "", "dlq", "replay", "--config", env.config, "--dry-run")
	if code != 0 || !strings.Contains(out, "would republish letter 1") || !strings.Contains(out, "3 letters would be replayed in 3 messages; nothing changed") {
		t.Fatalf("dry run (exit %d) =\n%s%s", code, out, stderr)
	}
	if count(env.names.DLQStream) != 3 || count(env.names.RowsStream) != 0 {
		t.Fatal("a dry run changed the streams")
	}

	cfgPath := filepath.Join(t.TempDir(), "worker.yaml")
	writeFile(t, cfgPath, "nats:\n  url: "+natsURL(t, env)+"\n"+storesDestination)
	out, stderr, code = runWorker(t, "", "dlq", "replay", "--config", cfgPath, "--reason", "invalid_row")
	if code != 0 || !strings.Contains(out, "republished letter 1 (invalid_row") || !strings.Contains(out, "replayed 1 letters") {
		t.Fatalf("replay (exit %d) =\n%s%s", code, out, stderr)
	}
	if count(env.names.DLQStream) != 2 || count(env.names.RowsStream) != 1 {
		t.Fatal("replay --reason did not move exactly one letter")
	}
	s, _ := env.js.Stream(context.Background(), env.names.RowsStream)
	m, err := s.GetMsg(context.Background(), 1)
	if err != nil || m.Subject != "tiktok.rows.stores" || string(m.Data) != string(ls[0].Body) {
		t.Errorf("republished %v %q, want %q on tiktok.rows.stores", err, m.Data, ls[0].Body)
	}
}

func TestDLQFlagErrors(t *testing.T) {
	env := newToolEnv(t, false)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"dlq", "ls", "--reason", "timeout"}, "--reason"},
		{[]string{"dlq", "stats", "--since", "yesterday"}, "--since"},
		{[]string{"dlq", "replay", "--since", "-5h"}, "--since"},
		{[]string{"dlq", "ls", "--limit", "-1"}, "--limit"},
		{[]string{"dlq", "ls", "--destination", "a.b"}, "--destination"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, stderr, code := runWorker(t, "", append(tt.args, "--config", env.config)...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and the flag %s named", code, stderr, tt.want)
			}
		})
	}
	// No DLQ stream yet: a clear error, exit 1.
	_, stderr, code := runWorker(t, "", "dlq", "ls", "--config", env.config)
	if code != 1 || !strings.Contains(stderr, "worker run") {
		t.Errorf("ls without a DLQ stream: exit %d, %q", code, stderr)
	}
}

func TestDLQHelp(t *testing.T) {
	for _, sub := range []string{"ls", "stats", "replay", "rm"} {
		out, _, code := runWorker(t, "", "dlq", sub, "--help")
		if code != 0 || !strings.Contains(out, "--since") || !strings.Contains(out, "--reason") {
			t.Errorf("dlq %s --help (exit %d) =\n%s", sub, code, out)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2025, 11, 24, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"2025-11-20T08:00:00Z", time.Date(2025, 11, 20, 8, 0, 0, 0, time.UTC), false},
		{"2025-11-20T08:00:00+01:00", time.Date(2025, 11, 20, 7, 0, 0, 0, time.UTC), false},
		{"24h", now.Add(-24 * time.Hour), false},
		{"90m", now.Add(-90 * time.Minute), false},
		{"7d", now.Add(-7 * 24 * time.Hour), false},
		{"0s", time.Time{}, true},
		{"2025-11-20", time.Time{}, true},
		{"soon", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := parseSince(tt.in, now)
		if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
