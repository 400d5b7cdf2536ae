// Package soak_test measures the worker's resident memory while it drains a large
// backlog (SPEC §8: RSS ≤ 150 MB with a 1,000,000-row backlog, flat over a soak).
//
// The worker runs as its own process, built from ./cmd/worker, so that the RSS read
// from /proc/<pid>/status is the worker's alone: the JetStream server and the TikTok
// stand-in live in the benchmark's process and do not count.
//
//	go test -run '^$' -bench Soak -benchtime 1x ./test/soak/
//	go test -run '^$' -bench Soak -benchtime 1x ./test/soak/ -soak.rows 100000
package soak_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/publish"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/service"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// DefaultRows is the backlog SPEC §8 names.
const DefaultRows = 1_000_000

var rowsFlag = flag.Int("soak.rows", 0, "rows in the soak's backlog (default SOAK_ROWS, else 1,000,000)")

// drainLimit bounds the soak: a worker that has not drained the backlog by then fails
// the benchmark instead of hanging it.
const drainLimit = 5 * time.Minute

// sampleEvery is how often the worker's RSS is read.
const sampleEvery = 100 * time.Millisecond

const destination = "stores"

func soakRows(tb testing.TB) int {
	if *rowsFlag > 0 {
		return *rowsFlag
	}
	if s := os.Getenv("SOAK_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			tb.Fatalf("SOAK_ROWS=%q: want a positive number of rows", s)
		}
		return n
	}
	return DefaultRows
}

// BenchmarkSoak publishes a backlog of typical offline rows (one row per message,
// each its own event), then starts `worker run` as a separate process and samples its
// VmRSS every 100 ms until the TikTok stand-in has accepted every row. It reports the
// peak RSS, the RSS when 25/50/75/100 % of the backlog was accepted (flat means these
// stay close), the RSS just after start, and the drain rate. The soak runs once
// whatever b.N is: one drain of the backlog is the measurement.
func BenchmarkSoak(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("soak: needs Linux /proc/<pid>/status to read the worker's RSS; not available here")
	}
	rows := soakRows(b)
	dir := b.TempDir()
	bin := buildWorker(b, dir)

	srv := natstest.RunServer(b)
	_, js := natstest.Connect(b, srv)
	// The stand-in keeps only the newest accepted events; its counts stay exact.
	sandbox := tiktoktest.NewServer(tiktoktest.WithMaxRecorded(100))
	b.Cleanup(sandbox.Close)

	cfgPath := filepath.Join(dir, "worker.yaml")
	writeConfig(b, cfgPath, srv.ClientURL(), sandbox.URL, freeAddr(b))
	cfg, err := config.Load(cfgPath, func(k string) string {
		if k == config.DefaultAccessTokenEnv {
			return tiktoktest.DefaultToken
		}
		return ""
	})
	if err != nil {
		b.Fatalf("soak config: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), drainLimit+2*time.Minute)
	defer cancel()
	if err := broker.Ensure(ctx, js, service.Topology(cfg)); err != nil {
		b.Fatalf("create the topology: %v", err)
	}
	subject := broker.NamesFor(cfg.NATS.SubjectPrefix).RowsSubject(destination)
	sum, err := publish.Publish(ctx, js, subject, newRowSource(rows, time.Now()))
	if err != nil {
		b.Fatalf("publish the backlog: %v", err)
	}
	if sum.PublishedRows != rows {
		b.Fatalf("published %d rows, want %d", sum.PublishedRows, rows)
	}
	b.Logf("backlog: %d rows published in %s (%.0f rows/s)", rows, sum.Elapsed.Round(time.Millisecond), sum.RowsPerSecond())

	ran := false
	for b.Loop() {
		if ran {
			continue
		}
		ran = true
		r := drain(b, bin, cfgPath, sandbox, rows)
		b.ReportMetric(r.peakMB, "peak_RSS_MB")
		b.ReportMetric(r.startMB, "start_RSS_MB")
		for i, q := range quarters {
			b.ReportMetric(r.atMB[i], fmt.Sprintf("RSS_MB@%d%%", q))
		}
		b.ReportMetric(float64(rows)/r.elapsed.Seconds(), "rows/s")
		b.Logf("worker RSS: start %.1f MB, %s, peak %.1f MB (VmHWM); drained %d rows in %s",
			r.startMB, r.curve(), r.peakMB, rows, r.elapsed.Round(time.Millisecond))
	}
}

var quarters = [...]int{25, 50, 75, 100}

type result struct {
	startMB float64                // first sample after the process started
	atMB    [len(quarters)]float64 // at the first sample where ≥ q % was accepted
	peakMB  float64                // the kernel's high-water mark (VmHWM), or the highest sample
	elapsed time.Duration          // process start → every row accepted
}

func (r result) curve() string {
	var parts []string
	for i, q := range quarters {
		parts = append(parts, fmt.Sprintf("%d%% %.1f MB", q, r.atMB[i]))
	}
	return strings.Join(parts, ", ")
}

type sample struct {
	rssKB, hwmKB int
	accepted     int
}

// drain runs the worker until the sandbox accepted rows events, sampling its RSS, then
// stops it with SIGTERM and waits for it to exit.
func drain(b *testing.B, bin, cfgPath string, sandbox *tiktoktest.Server, rows int) result {
	b.Helper()
	stderr := &tailBuffer{max: 64 << 10}
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Env = append(cleanEnv(), config.DefaultAccessTokenEnv+"="+tiktoktest.DefaultToken)
	cmd.Stdout = io.Discard
	cmd.Stderr = stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatalf("start the worker: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	var samples []sample
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	deadline := time.After(drainLimit)
	var elapsed time.Duration
	for {
		select {
		case err := <-exited:
			stopped = true
			b.Fatalf("the worker exited before draining the backlog (%d of %d accepted): %v\n%s",
				sandbox.AcceptedCount(), rows, err, stderr)
		case <-deadline:
			b.Fatalf("the backlog was not drained within %s: %d of %d rows accepted\n%s",
				drainLimit, sandbox.AcceptedCount(), rows, stderr)
		case <-tick.C:
		}
		// Count first, then read the RSS: the sample's memory is at least as late
		// as its progress.
		s := sample{accepted: sandbox.AcceptedCount()}
		rss, hwm, err := readStatus(status)
		if err != nil {
			continue // the process is going away; exited reports why
		}
		s.rssKB, s.hwmKB = rss, hwm
		samples = append(samples, s)
		if s.accepted >= rows {
			elapsed = time.Since(start)
			break
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		b.Fatalf("SIGTERM the worker: %v", err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			b.Fatalf("the worker exited with %v after SIGTERM\n%s", err, stderr)
		}
	case <-time.After(time.Minute):
		b.Fatalf("the worker did not exit within a minute of SIGTERM\n%s", stderr)
	}
	if got := sandbox.AcceptedCount(); got != rows {
		b.Fatalf("the stand-in accepted %d events, want exactly %d (one per row)", got, rows)
	}
	return summarize(samples, rows, elapsed)
}

func summarize(samples []sample, rows int, elapsed time.Duration) result {
	const kbPerMB = 1024.0
	r := result{elapsed: elapsed, startMB: float64(samples[0].rssKB) / kbPerMB}
	peak := 0
	for _, s := range samples {
		peak = max(peak, s.rssKB, s.hwmKB)
	}
	r.peakMB = float64(peak) / kbPerMB
	for i, q := range quarters {
		want := (rows*q + 99) / 100
		j := slices.IndexFunc(samples, func(s sample) bool { return s.accepted >= want })
		r.atMB[i] = float64(samples[j].rssKB) / kbPerMB
	}
	return r
}

// readStatus returns VmRSS and VmHWM (kB) from a /proc/<pid>/status file.
func readStatus(path string) (rss, hwm int, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(val), " kB"))
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %s %q: %w", path, key, val, err)
		}
		if key == "VmRSS" {
			rss = n
		} else {
			hwm = n
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("%s: no VmRSS (a zombie?)", path)
	}
	return rss, hwm, nil
}

// buildWorker builds ./cmd/worker of this module into dir, as `make build` does.
func buildWorker(tb testing.TB, dir string) string {
	tb.Helper()
	root := moduleRoot(tb)
	bin := filepath.Join(dir, "worker")
	goCmd, err := exec.LookPath("go")
	if err != nil {
		tb.Skipf("soak: needs the go command on PATH to build the worker: %v", err)
	}
	cmd := exec.Command(goCmd, "build", "-trimpath", "-o", bin, "./cmd/worker")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build ./cmd/worker in %s: %v\n%s", root, err, out)
	}
	return bin
}

// moduleRoot is the nearest directory above the working directory (the package's,
// under go test) that holds go.mod.
func moduleRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("soak: no go.mod above the test's directory; run it with go test from the module")
		}
		dir = parent
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// freeAddr returns a 127.0.0.1 address that was free a moment ago, for http.listen:
// with log level warn the worker does not announce the address it picked for :0.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("reserve a port for the worker's HTTP: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

func writeConfig(tb testing.TB, path, natsURL, apiBase, listen string) {
	tb.Helper()
	yaml := fmt.Sprintf(`nats:
  url: %s
tiktok:
  api_base: %s
  access_token_env: %s
http:
  listen: %s
log:
  level: warn
  format: json
destinations:
  - name: %s
    advertiser_id: %q
    event_source: offline
    event_source_id: %q
    fixed_event_name: Purchase
`, natsURL, apiBase, config.DefaultAccessTokenEnv, listen, destination,
		tiktoktest.DefaultAdvertiserID, tiktoktest.DefaultEventSetID)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// cleanEnv is this process's environment without the variables that would override
// the soak's config file.
func cleanEnv() []string {
	drop := []string{"NATS_URL=", "NATS_CREDS=", "NATS_NKEY=", "TIKTOK_API_BASE=", config.DefaultAccessTokenEnv + "="}
	var env []string
	for _, kv := range os.Environ() {
		if !slices.ContainsFunc(drop, func(p string) bool { return strings.HasPrefix(kv, p) }) {
			env = append(env, kv)
		}
	}
	return env
}

// rowSource generates n typical offline rows, one per message, each with its own
// event_id: an email in mixed case with spaces, a US phone in one of the common
// formats, one item with price and quantity, currency and order id — the row of
// docs/performance.md's transform benchmark. Every body is a fresh slice: the
// publisher holds it until JetStream acknowledges it.
type rowSource struct {
	n, i int
	now  int64
}

func newRowSource(n int, now time.Time) *rowSource {
	return &rowSource{n: n, now: now.Unix()}
}

// phoneShapes are the prefixes of the US phone formats upstream systems send; four
// digits follow.
var phoneShapes = [...]string{"(415) 555-", "415.555.", "+1 415 555 ", "1-415-555-", "415555", "+1415555"}

func (s *rowSource) Next() (publish.Message, error) {
	if s.i >= s.n {
		return publish.Message{}, io.EOF
	}
	i := s.i
	s.i++
	b := make([]byte, 0, 256)
	b = append(b, `{"event":"Purchase","event_id":"soak-`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `","timestamp":`...)
	b = strconv.AppendInt(b, s.now-int64(i%(20*24*3600)), 10)
	b = append(b, `,"email":"  Customer`...)
	b = strconv.AppendInt(b, int64(i%1_000_003), 10)
	b = append(b, `@Example.COM ","phone":"`...)
	b = append(b, phoneShapes[i%len(phoneShapes)]...)
	b = appendDigits(b, i%10000, 4)
	b = append(b, `","content_id":"sku-`...)
	b = strconv.AppendInt(b, int64(i%500), 10)
	cents := 199 + i%20000
	b = append(b, `","price":"`...)
	b = strconv.AppendInt(b, int64(cents/100), 10)
	b = append(b, '.')
	b = appendDigits(b, cents%100, 2)
	b = append(b, `","quantity":`...)
	b = strconv.AppendInt(b, int64(1+i%3), 10)
	b = append(b, `,"currency":"usd","order_id":"o-soak-`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `"}`...)
	return publish.Message{Data: b, Rows: 1, Line: i + 1}, nil
}

// appendDigits appends the last width decimal digits of v, zero-padded.
func appendDigits(b []byte, v, width int) []byte {
	for p := width - 1; p >= 0; p-- {
		d := v
		for range p {
			d /= 10
		}
		b = append(b, byte('0'+d%10))
	}
	return b
}

// tailBuffer keeps the last max bytes the worker wrote to stderr, for failure messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.b) == 0 {
		return "(the worker wrote nothing to stderr)"
	}
	return "worker stderr (tail):\n" + string(t.b)
}

// TestRowSource checks the backlog generator: n messages of one valid JSON row each,
// every event_id distinct (so none is a duplicate the worker would skip), a ten-digit
// US phone and a price with two decimals.
func TestRowSource(t *testing.T) {
	const n = 2000
	src := newRowSource(n, time.Unix(1_750_000_000, 0))
	ids := map[string]bool{}
	for i := 0; ; i++ {
		m, err := src.Next()
		if errors.Is(err, io.EOF) {
			if i != n {
				t.Fatalf("got %d messages, want %d", i, n)
			}
			break
		}
		var row struct {
			EventID string `json:"event_id"`
			Phone   string `json:"phone"`
			Price   string `json:"price"`
		}
		if err := json.Unmarshal(m.Data, &row); err != nil {
			t.Fatalf("message %d is not a JSON object: %v\n%s", i, err, m.Data)
		}
		if m.Rows != 1 || ids[row.EventID] {
			t.Fatalf("message %d: rows %d, event_id %q repeated=%v", i, m.Rows, row.EventID, ids[row.EventID])
		}
		ids[row.EventID] = true
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, row.Phone)
		if len(strings.TrimPrefix(digits, "1")) != 10 {
			t.Errorf("message %d: phone %q is not a ten-digit US number", i, row.Phone)
		}
		if dot := strings.IndexByte(row.Price, '.'); dot < 1 || len(row.Price)-dot != 3 {
			t.Errorf("message %d: price %q, want two decimals", i, row.Price)
		}
	}
}
