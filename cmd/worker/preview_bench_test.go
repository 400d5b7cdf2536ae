package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// typicalRows writes n typical offline rows as JSON Lines (SPEC §8): e-mail in mixed
// case with spaces, a US phone in one of several formats, one content item, each row
// its own event.
func typicalRows(w io.Writer, n int) error {
	phones := []string{"(415) 555-%04d", "+1 415-555-%04d", "415.555.%04d", "1 415 555 %04d", "4155550%03d"}
	base := time.Date(2025, 11, 24, 10, 0, 0, 0, time.UTC).Unix()
	bw := bufio.NewWriterSize(w, 64<<10)
	for i := range n {
		phone := fmt.Sprintf(phones[i%len(phones)], i%1000)
		fmt.Fprintf(bw, `{"timestamp":%d,"event":"Purchase","event_id":"order-%d","email":" Customer%d@Example.com ","phone":"%s","content_id":"sku-%d","price":"19.99","quantity":%d,"currency":"USD","order_id":"order-%d"}`+"\n",
			base+int64(i%3600), i, i, phone, i%500, 1+i%3, i)
	}
	return bw.Flush()
}

// BenchmarkPreview runs `worker preview` in process on 200,000 typical rows, from
// stdin bytes to request bodies written through a discarding stdout.
func BenchmarkPreview(b *testing.B) {
	const rows = 200_000
	var in bytes.Buffer
	if err := typicalRows(&in, rows); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(in.Len()))
	for b.Loop() {
		a := &app{stdin: bytes.NewReader(in.Bytes()), stdout: io.Discard, stderr: io.Discard}
		cmd := a.root()
		cmd.SetArgs([]string{"preview", "--now", previewNow})
		if err := cmd.Execute(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// built holds the binaries the process benchmarks run, built once per test binary.
var built struct {
	once         sync.Once
	dir          string
	worker, refs string
	err          error
}

// buildBinaries builds ./cmd/worker as `make build` does, and the test binary of
// pkg/events, whose BenchmarkReference is the straightforward transform SPEC §8
// compares against (map decode + phonenumbers + encoding/json).
func buildBinaries(b *testing.B) (worker, reference string) {
	b.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "preview-bench-")
		if built.err != nil {
			return
		}
		built.worker = filepath.Join(built.dir, "worker")
		built.refs = filepath.Join(built.dir, "events.test")
		for _, args := range [][]string{
			{"build", "-trimpath", "-ldflags", "-s -w", "-o", built.worker, "."},
			{"test", "-c", "-o", built.refs, "../../pkg/events"},
		} {
			cmd := exec.Command("go", args...)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				built.err = fmt.Errorf("go %v: %w\n%s", args, err, out)
				return
			}
		}
	})
	if built.err != nil {
		b.Fatal(built.err)
	}
	return built.worker, built.refs
}

// previewProcess runs the worker binary's preview with stdin from in and stdout to
// /dev/null, and returns the summary, the wall time and the peak RSS in bytes
// (the kernel's high-water mark of the child, VmHWM, as wait4 reports it).
func previewProcess(b *testing.B, worker string, in io.Reader) (summaryOut, time.Duration, int64) {
	b.Helper()
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(worker, "preview", "--now", previewNow, "--event-source-id", "7654321098765432109")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, devnull, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("worker preview: %v\n%.2000s", err, stderr.String())
	}
	elapsed := time.Since(start)
	_, s := parseStderr(b, stderr.String())
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
	return s, elapsed, rss
}

var rowsPerSec = regexp.MustCompile(`([0-9.]+) rows/s`)

// referenceRate runs pkg/events' BenchmarkReference over n rows and returns its
// rows/s. It runs in its own process without any I/O, which only favours it.
func referenceRate(b *testing.B, ref string, n int) float64 {
	b.Helper()
	out, err := exec.Command(ref, "-test.run", "^$", "-test.bench", "^BenchmarkReference$", "-test.benchtime", strconv.Itoa(n)+"x").CombinedOutput()
	if err != nil {
		b.Fatalf("reference: %v\n%s", err, out)
	}
	m := rowsPerSec.FindSubmatch(out)
	if m == nil {
		b.Fatalf("reference: no rows/s in\n%s", out)
	}
	r, _ := strconv.ParseFloat(string(m[1]), 64)
	return r
}

// BenchmarkPreviewProcess: `worker preview` as a process on 200,000 typical offline
// rows (JSON Lines from a file on stdin, bodies to /dev/null), against the
// straightforward reference on the same number of rows, run alternately so that both
// see the same machine load. SPEC §8 asks for ≥ 5×.
func BenchmarkPreviewProcess(b *testing.B) {
	const rows = 200_000
	worker, ref := buildBinaries(b)
	path := filepath.Join(b.TempDir(), "rows.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := typicalRows(f, rows); err != nil {
		b.Fatal(err)
	}
	f.Close()
	var previewTime time.Duration
	var refTime float64
	b.ResetTimer()
	for range b.N {
		in, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		s, elapsed, _ := previewProcess(b, worker, in)
		in.Close()
		if s.Summary.Rows != rows || s.Summary.Events != rows {
			b.Fatalf("summary %+v, want %d rows and events", s.Summary, rows)
		}
		previewTime += elapsed
		refTime += rows / referenceRate(b, ref, rows)
	}
	b.StopTimer()
	previewRate := float64(rows*b.N) / previewTime.Seconds()
	refRate := float64(rows*b.N) / refTime
	b.ReportMetric(previewRate, "rows/s")
	b.ReportMetric(refRate, "ref-rows/s")
	b.ReportMetric(previewRate/refRate, "x-reference")
}

// BenchmarkPreviewRSS: the peak RSS of `worker preview` as a process on 1,000,000
// typical rows streamed through a pipe. SPEC §8 asks for ≤ 64 MB.
func BenchmarkPreviewRSS(b *testing.B) {
	const rows = 1_000_000
	worker, _ := buildBinaries(b)
	var peak int64
	for range b.N {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(typicalRows(pw, rows)) }()
		s, _, rss := previewProcess(b, worker, pr)
		if s.Summary.Rows != rows || s.Summary.Events != rows {
			b.Fatalf("summary %+v, want %d rows and events", s.Summary, rows)
		}
		peak = max(peak, rss)
	}
	b.ReportMetric(float64(peak)/1e6, "peak-MB")
	if peak > 64<<20 {
		b.Errorf("peak RSS %.1f MB on %d rows: over the 64 MB of SPEC §8", float64(peak)/1e6, rows)
	}
}
