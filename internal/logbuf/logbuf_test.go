package logbuf_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/logbuf"
)

// Writers on many goroutines lose nothing (run with -race).
func TestConcurrentWrites(t *testing.T) {
	var b logbuf.Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("x\n"))
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "x\n"); n != 800 {
		t.Errorf("%d lines, want 800", n)
	}
}
