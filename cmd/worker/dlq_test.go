package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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

func newToolEnv(t testing.TB, ensure bool) toolEnv {
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
func runWorker(t testing.TB, stdin string, args ...string) (stdout, stderr string, code int) {
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
	for _, want := range []string{"DESTINATION", "OLDEST", "NEWEST", "MATCH KEYS", "stores", "invalid_row", "rejected", "web", "malformed_message", "2025-11-24T11:00:00Z", "email 100%"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^web\s+malformed_message\s+1\s+\S+\s+\S+\s+-\s*$`).MatchString(out) {
		t.Errorf("a malformed message carries no match key; stats says otherwise:\n%s", out)
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
