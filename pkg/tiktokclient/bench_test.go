package tiktokclient_test

import (
	"context"
	"sync"
	"testing"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// One 1,000-event request to the local sandbox: encode + send + the sandbox's
// validation + decode. From the second iteration on the sandbox drops the events
// as 48-hour repeats, after validating them as before.
func BenchmarkSend1000(b *testing.B) {
	srv := tiktoktest.NewServer(tiktoktest.WithMaxRecorded(1000))
	defer srv.Close()
	c := newClient(b, srv, nil)
	req := offlineRequest(1000)
	b.SetBytes(int64(len(req.AppendBody(nil))))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := c.Send(context.Background(), req)
		if err != nil || res.Requests != 1 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}

// Requests per second with 4 in flight (the default delivery.in_flight).
func BenchmarkSend1000InFlight4(b *testing.B) {
	srv := tiktoktest.NewServer(tiktoktest.WithMaxRecorded(1000))
	defer srv.Close()
	c := newClient(b, srv, nil)
	req := offlineRequest(1000)
	b.ReportAllocs()
	b.ResetTimer()
	work := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				if _, err := c.Send(context.Background(), req); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for b.Loop() {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}

// The client side alone: building a 1,000-event body from pooled buffers.
func BenchmarkAppendBody1000(b *testing.B) {
	req := offlineRequest(1000)
	buf := make([]byte, 0, 512<<10)
	b.ReportAllocs()
	for b.Loop() {
		buf = req.AppendBody(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
	_ = tiktokclient.MaxEvents
}
