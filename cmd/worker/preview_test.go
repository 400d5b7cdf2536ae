package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/preview")

const previewNow = "2025-11-24T12:00:00Z"

// runPreview runs `worker preview args…` with stdin and returns stdout, stderr and the
// exit code main would use.
func runPreview(t testing.TB, stdin []byte, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdin: bytes.NewReader(stdin), stdout: &out, stderr: &errb}
	cmd := a.root()
	cmd.SetArgs(append([]string{"preview"}, args...))
	if err := cmd.Execute(); err != nil {
		return out.String(), errb.String() + "error: " + err.Error() + "\n", exitCode(err)
	}
	return out.String(), errb.String(), 0
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var goldenCases = []struct {
	name  string
	input string
	args  []string
}{
	{"offline-jsonl", "offline.jsonl", []string{"--fixed-event-name", "Purchase", "--event-source-id", "7654321098765432109"}},
	{"offline-json", "offline.json", []string{"--event-source", "offline", "--event-source-id", "7654321098765432109"}},
	{"offline-csv", "offline.csv", []string{"--fixed-event-name", "Purchase", "--event-source-id", "7654321098765432109", "--test-event-code", "TEST123"}},
	{"offline-csv-gb", "offline.csv", []string{"--fixed-event-name", "Purchase", "--phone-region", "GB", "--window", "1h"}},
	{"web-jsonl", "web.jsonl", []string{"--event-source", "web", "--event-source-id", "CPIXEL1", "--limited-data-use", "--test-event-code", "TEST123"}},
	{"web-jsonl-format-flag", "web.jsonl", []string{"--event-source", "web", "--format", "jsonl"}},
	{"crm", "preview/crm.jsonl", []string{"--event-source", "crm", "--event-source-id", "7305129398742720000"}},
	{"matching-web", "preview/matching.csv", []string{"--event-source", "web", "--event-source-id", "CPIXEL1"}},
	{"matching-offline", "preview/matching.csv", []string{"--event-source", "offline", "--fixed-event-name", "Purchase"}},
	{"whole-orders", "preview/orders.jsonl", []string{"--event-source-id", "7654321098765432109"}},
}

// inputPath: inputs named preview/… are this command's own test data, the others the
// repository's sample rows.
func inputPath(name string) string {
	if strings.HasPrefix(name, "preview/") {
		return filepath.Join("testdata", name)
	}
	return filepath.Join("..", "..", "testdata", name)
}

// TestPreviewGolden compares stdout and stderr with the golden files; run
// `go test ./cmd/worker -run TestPreviewGolden -update` after an intended change.
func TestPreviewGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			in := readFile(t, inputPath(tc.input))
			stdout, stderr, code := runPreview(t, in, append(tc.args, "--now", previewNow)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, g := range []struct{ ext, got string }{{".stdout", stdout}, {".stderr", stderr}} {
				path := filepath.Join("testdata", "preview", tc.name+g.ext)
				if *update {
					if err := os.WriteFile(path, []byte(g.got), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if want := string(readFile(t, path)); g.got != want {
					t.Errorf("%s differs from %s:\n got:\n%s\nwant:\n%s", g.ext, path, g.got, want)
				}
			}
			checkBodies(t, stdout)
		})
	}
}

// checkBodies: every stdout line is one request body with 1 to 1,000 events.
func checkBodies(t testing.TB, stdout string) int {
	t.Helper()
	events := 0
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		if line == "" {
			continue
		}
		var body struct {
			EventSource string            `json:"event_source"`
			Data        []json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal([]byte(line), &body); err != nil {
			t.Fatalf("stdout line is not a JSON body: %v\n%s", err, line)
		}
		if len(body.Data) == 0 || len(body.Data) > 1000 {
			t.Fatalf("a request with %d events", len(body.Data))
		}
		events += len(body.Data)
	}
	return events
}

type rejectOut struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
	Field  string `json:"field"`
	Error  string `json:"error"`
}

type summaryOut struct {
	Summary struct {
		Rows       int                `json:"rows"`
		Events     int                `json:"events"`
		Requests   int                `json:"requests"`
		Duplicates int                `json:"duplicates"`
		Rejects    map[string]int     `json:"rejects"`
		MatchKeys  map[string]float64 `json:"match_keys"`
	} `json:"summary"`
}

func parseStderr(t testing.TB, stderr string) ([]rejectOut, summaryOut) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	var rejects []rejectOut
	for _, l := range lines[:len(lines)-1] {
		var r rejectOut
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("stderr line %q: %v", l, err)
		}
		rejects = append(rejects, r)
	}
	var s summaryOut
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("summary %q: %v", lines[len(lines)-1], err)
	}
	return rejects, s
}

// TestPreviewRejectLines: each rejected row is reported at its input line with the
// right reason and field, in every input format.
func TestPreviewRejectLines(t *testing.T) {
	type rej struct {
		line          int
		reason, field string
	}
	for _, tc := range []struct {
		input string
		args  []string
		want  []rej
	}{
		{"offline.jsonl", []string{"--fixed-event-name", "Purchase"}, []rej{
			{5, "invalid_row", "event"}, {6, "invalid_row", "email"}, {7, "outside_window", "timestamp"},
			{8, "future_timestamp", "timestamp"}, {9, "malformed_message", ""}, {12, "invalid_row", "phone"}}},
		{"offline.json", nil, []rej{
			{2, "invalid_row", "event"}, {13, "invalid_row", "event"}, {24, "invalid_row", "event"}, {25, "invalid_row", "timestamp"}, {26, "invalid_row", "content_id"}, {27, "malformed_message", ""}}},
		{"offline.csv", []string{"--fixed-event-name", "Purchase"}, []rej{
			{5, "invalid_row", "email"}, {6, "invalid_row", "price"}, {7, "invalid_row", "currency"}, {8, "malformed_message", ""}, {9, "malformed_message", ""}}},
		{"preview/orders.jsonl", nil, []rej{{1, "invalid_row", "price"}, {2, "invalid_row", "price"}, {3, "invalid_row", "price"}}},
		{"preview/crm.jsonl", []string{"--event-source", "crm"}, []rej{{3, "invalid_row", "lead_id"}, {4, "invalid_row", "email"}}},
		{"web.jsonl", []string{"--event-source", "web"}, []rej{
			{4, "invalid_row", "event"}, {5, "invalid_row", "page_url"}, {6, "invalid_row", "page_url"}, {7, "invalid_row", "ip"},
			{8, "invalid_row", "email"}, {9, "invalid_row", "content_type"}}},
	} {
		t.Run(tc.input, func(t *testing.T) {
			in := readFile(t, inputPath(tc.input))
			_, stderr, code := runPreview(t, in, append(tc.args, "--now", previewNow)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			rejects, _ := parseStderr(t, stderr)
			var got []rej
			for _, r := range rejects {
				got = append(got, rej{r.Line, r.Reason, r.Field})
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("rejects\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

// TestPreviewNoPII: stderr never carries a raw e-mail address, phone number or
// external id, whatever was wrong with the row.
func TestPreviewNoPII(t *testing.T) {
	in := `{"timestamp":"2025-11-24T11:00:00Z","event":"Lead","email":"jane.doe.example.com","page_url":"https://x.example/"}
{"timestamp":"2025-11-24T11:00:00Z","event":"Lead","phone":"+1 555 0100 99","page_url":"https://x.example/"}
{"timestamp":"2025-11-24T11:00:00Z","event":"Lead","external_id":"   ","page_url":"https://x.example/"}
{"timestamp":"2020-01-01T00:00:00Z","event":"Lead","email":"old.jane@example.com","page_url":"https://x.example/"}
{"timestamp":"2025-11-24T11:00:00Z","event":"lead","external_id":"secret-user-7","page_url":"https://x.example/"}
`
	_, stderr, _ := runPreview(t, []byte(in), "--event-source", "web", "--now", previewNow)
	rejects, _ := parseStderr(t, stderr)
	if len(rejects) != 5 {
		t.Fatalf("rejects = %d, want 5:\n%s", len(rejects), stderr)
	}
	for _, v := range []string{"jane.doe", "555 0100", "5550100", "old.jane", "secret-user-7"} {
		if strings.Contains(stderr, v) {
			t.Errorf("stderr contains %q:\n%s", v, stderr)
		}
	}
}

// TestPreviewBatches: more than 1,000 events become several requests of at most
// 1,000, and the summary adds up.
func TestPreviewBatches(t *testing.T) {
	var in bytes.Buffer
	for i := range 2500 {
		fmt.Fprintf(&in, `{"timestamp":"2025-11-24T11:00:00Z","event_id":"e%d","email":"u%d@example.com"}`+"\n", i, i)
	}
	stdout, stderr, code := runPreview(t, in.Bytes(), "--fixed-event-name", "Purchase", "--now", previewNow)
	if code != 0 {
		t.Fatal(stderr)
	}
	if n := strings.Count(stdout, "\n"); n != 3 {
		t.Errorf("requests = %d, want 3", n)
	}
	if n := checkBodies(t, stdout); n != 2500 {
		t.Errorf("events = %d", n)
	}
	_, s := parseStderr(t, stderr)
	if s.Summary.Rows != 2500 || s.Summary.Events != 2500 || s.Summary.Requests != 3 || s.Summary.MatchKeys["email"] != 1 {
		t.Errorf("summary %+v", s.Summary)
	}
}

func TestPreviewFormats(t *testing.T) {
	row := `{"timestamp":"2025-11-24T11:00:00Z","event_id":"e1","email":"a@example.com"}`
	for _, tc := range []struct {
		name, in string
		args     []string
		events   int
		rejects  int
	}{
		{"single object is one line", row, nil, 1, 0},
		{"single pretty object with --format json", "{\n \"timestamp\": \"2025-11-24T11:00:00Z\",\n \"email\": \"a@example.com\"\n}\n", []string{"--format", "json"}, 1, 0},
		{"an array line with --format jsonl is one message, as publish sends it", "[" + row + "]", []string{"--format", "jsonl"}, 1, 0},
		{"a line that is an array of non-objects is malformed", "[1,2]\n", []string{"--format", "jsonl"}, 0, 2},
		{"empty input", "", nil, 0, 0},
		{"csv with BOM and CRLF", "\ufefftimestamp,email\r\n2025-11-24T11:00:00Z,a@example.com\r\n", nil, 1, 0},
		{"truncated array keeps the rows before the break", "[" + row + ",\n{\"timestamp\":", nil, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runPreview(t, []byte(tc.in), append(tc.args, "--fixed-event-name", "Purchase", "--now", previewNow)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			rejects, s := parseStderr(t, stderr)
			if checkBodies(t, stdout) != tc.events || len(rejects) != tc.rejects || s.Summary.Events != tc.events {
				t.Errorf("events %d rejects %v\nstdout %s", s.Summary.Events, rejects, stdout)
			}
		})
	}
}

func TestPreviewUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"--event-source", "app"}, "--event-source"},
		{[]string{"--window", "700h"}, "--window"},
		{[]string{"--window", "soon"}, "--window"},
		{[]string{"--now", "yesterday"}, "--now"},
		{[]string{"--format", "xml"}, "--format"},
		{[]string{"--phone-region", "XX"}, "--phone-region"},
		{[]string{"--fixed-event-name", "purchase"}, "--fixed-event-name"},
		{[]string{"--no-such-flag"}, "--no-such-flag"},
	} {
		_, stderr, code := runPreview(t, []byte(`{"timestamp":1}`), tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.flag) {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming %s", tc.args, code, stderr, tc.flag)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestPreviewIOError(t *testing.T) {
	a := &app{stdin: strings.NewReader(`{"timestamp":"2025-11-24T11:00:00Z","email":"a@example.com"}`), stdout: failingWriter{}, stderr: io.Discard}
	cmd := a.root()
	cmd.SetArgs([]string{"preview", "--fixed-event-name", "Purchase", "--now", previewNow})
	err := cmd.Execute()
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v (exit %d), want an I/O error with exit 1", err, exitCode(err))
	}
}

// TestMain lets the test binary stand in for the worker binary (see
// TestPreviewHelpExamples): with WORKER_TEST_AS_MAIN=1 it runs main instead of the
// tests.
func TestMain(m *testing.M) {
	if os.Getenv("WORKER_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestPreviewHelpExamples runs each example of `worker preview --help` as it is
// printed, in a shell at the top of the repository, and checks that it outputs at
// least one event.
func TestPreviewHelpExamples(t *testing.T) {
	help, _, code := runPreview(t, nil, "--help")
	if code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	_, examples, ok := strings.Cut(help, "Examples:\n")
	if !ok {
		t.Fatalf("no examples in\n%s", help)
	}
	examples, _, _ = strings.Cut(examples, "\n\n")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(bin, "worker")); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(examples, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		n++
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			cmd := exec.Command("sh", "-c", line)
			cmd.Dir = filepath.Join("..", "..")
			cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "WORKER_TEST_AS_MAIN=1")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s: %v\n%s", line, err, stderr.String())
			}
			if events := checkBodies(t, stdout.String()); events < 1 {
				t.Errorf("%s\noutputs no event; stderr:\n%s", line, stderr.String())
			}
		})
	}
	if n < 2 {
		t.Errorf("%d examples, want at least 2", n)
	}
}

// lineWriter sends each complete line written to it on a channel.
type lineWriter struct {
	buf   []byte
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.lines <- string(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

// TestPreviewStreams: the first request is written as soon as it holds 1,000 events,
// while the input is still open.
func TestPreviewStreams(t *testing.T) {
	pr, pw := io.Pipe()
	out := &lineWriter{lines: make(chan string, 4)}
	var errb bytes.Buffer
	a := &app{stdin: pr, stdout: out, stderr: &errb}
	cmd := a.root()
	cmd.SetArgs([]string{"preview", "--fixed-event-name", "Purchase", "--now", previewNow})
	done := make(chan error, 1)
	go func() { done <- cmd.Execute() }()
	row := func(i int) string {
		return fmt.Sprintf(`{"timestamp":"2025-11-24T11:00:00Z","event_id":"e%d","email":"u%d@example.com"}`+"\n", i, i)
	}
	go func() {
		for i := range 1001 { // the 1,001st row closes the 1,000th event
			if _, err := io.WriteString(pw, row(i)); err != nil {
				return
			}
		}
	}()
	deadline := time.After(time.Minute)
	select {
	case line := <-out.lines:
		if n := checkBodies(t, line); n != 1000 {
			t.Errorf("first request holds %d events, want 1000", n)
		}
	case err := <-done:
		t.Fatalf("preview ended (%v) before its input did", err)
	case <-deadline:
		t.Fatal("no request on stdout within a minute while the input stays open")
	}
	if _, err := io.WriteString(pw, row(1001)); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	select {
	case line := <-out.lines:
		if n := checkBodies(t, line); n != 2 {
			t.Errorf("last request holds %d events, want 2", n)
		}
	case <-deadline:
		t.Fatal("no last request")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, s := parseStderr(t, errb.String()); s.Summary.Rows != 1002 || s.Summary.Events != 1002 || s.Summary.Requests != 2 {
		t.Errorf("summary %+v", s.Summary)
	}
}

// TestPreviewGroupsAsPublish: consecutive rows that share an event_id are one event;
// a later repeat of an event already output is a duplicate, whatever it carries; the
// same event_id under another event name is another event.
func TestPreviewGroupsAsPublish(t *testing.T) {
	row := func(id, event, sku string) string {
		return fmt.Sprintf(`{"timestamp":"2025-11-24T11:00:00Z","event":%q,"event_id":%q,"email":"a@example.com","content_id":%q,"price":"1","quantity":1}`+"\n", event, id, sku)
	}
	in := row("o-1", "Purchase", "a") + row("o-1", "Purchase", "b") + row("o-2", "Purchase", "c") +
		row("o-1", "Purchase", "d") + row("o-2", "Purchase", "c") + row("o-1", "AddToCart", "e")
	stdout, stderr, code := runPreview(t, []byte(in), "--now", previewNow)
	if code != 0 {
		t.Fatal(stderr)
	}
	var body struct {
		Data []struct {
			Event      string `json:"event"`
			EventID    string `json:"event_id"`
			Properties struct {
				Contents []struct {
					ContentID string `json:"content_id"`
				} `json:"contents"`
			} `json:"properties"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(stdout), &body); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range body.Data {
		s := ev.Event + " " + ev.EventID
		for _, c := range ev.Properties.Contents {
			s += " " + c.ContentID
		}
		got = append(got, s)
	}
	want := []string{"Purchase o-1 a b", "Purchase o-2 c", "AddToCart o-1 e"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events %q, want %q", got, want)
	}
	if _, s := parseStderr(t, stderr); s.Summary.Rows != 6 || s.Summary.Events != 3 || s.Summary.Duplicates != 2 {
		t.Errorf("summary %+v, want 6 rows, 3 events, 2 duplicates", s.Summary)
	}
}

// TestPreviewWholeOrders: an order with one bad item shows nothing of it on stdout
// and all its rows on stderr, the good ones naming the bad row's line and field.
func TestPreviewWholeOrders(t *testing.T) {
	stdout, stderr, code := runPreview(t, readFile(t, inputPath("preview/orders.jsonl")), "--now", previewNow)
	if code != 0 {
		t.Fatal(stderr)
	}
	if strings.Contains(stdout, `"o-1"`) || !strings.Contains(stdout, `"o-2"`) {
		t.Errorf("stdout should hold order o-2 and nothing of o-1:\n%s", stdout)
	}
	rejects, _ := parseStderr(t, stderr)
	for _, r := range rejects {
		if r.Line != 2 && !strings.Contains(r.Error, "the row at line 2") {
			t.Errorf("line %d does not name the bad row's line: %q", r.Line, r.Error)
		}
	}
	if len(rejects) != 3 {
		t.Errorf("%d rejects, want the 3 rows of o-1", len(rejects))
	}
}
