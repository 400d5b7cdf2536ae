package tiktoktest_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// typicalBody is one 1,000-event offline request as the worker sends it: typical
// offline rows (SPEC §8: e-mail, US phone, one content item) through pkg/events,
// wrapped by tiktokclient.Request.
func typicalBody(tb testing.TB, n int) []byte {
	tb.Helper()
	now := time.Date(2025, 11, 24, 10, 0, 0, 0, time.UTC)
	tr, err := events.NewTransformer(events.Config{EventSource: events.SourceOffline,
		EventSourceID: tiktoktest.DefaultEventSetID, Now: func() time.Time { return now }})
	if err != nil {
		tb.Fatal(err)
	}
	phones := []string{"(415) 555-%04d", "+1 415-555-%04d", "415.555.%04d", "1 415 555 %04d"}
	req := tiktokclient.Request{EventSource: "offline", EventSourceID: tiktoktest.DefaultEventSetID}
	var res events.Result
	for i := range n {
		row := fmt.Appendf(nil, `{"timestamp":%d,"event":"Purchase","event_id":"order-%d","email":" Customer%d@Example.com ","phone":"%s","content_id":"sku-%d","price":"19.99","quantity":%d,"currency":"USD","order_id":"order-%d"}`,
			now.Unix()-int64(i%86400), 100000+i, i, fmt.Sprintf(phones[i%len(phones)], i%10000), i%500, 1+i%3, 100000+i)
		if err := tr.Message(row, &res); err != nil || len(res.Events) != 1 {
			tb.Fatalf("row %d: %v %+v", i, err, res.Rejects)
		}
		req.Events = append(req.Events, bytes.Clone(res.Events[0].JSON))
	}
	return req.AppendBody(nil)
}

// BenchmarkTrack1000 is the sandbox's cost of one 1,000-event /event/track/ request
// (validation, dedup, recording, the answer), without the network. The clock moves
// 49 hours per request so that every event is accepted and recorded again rather
// than dropped as a 48-hour repeat.
func BenchmarkTrack1000(b *testing.B) {
	body := typicalBody(b, 1000)
	var mu sync.Mutex
	now := time.Date(2025, 11, 24, 10, 0, 0, 0, time.UTC)
	srv := tiktoktest.New(tiktoktest.WithMaxRecorded(1000), tiktoktest.WithClock(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		mu.Lock()
		now = now.Add(49 * time.Hour)
		mu.Unlock()
		r := httptest.NewRequest(http.MethodPost, tiktoktest.TrackPath, bytes.NewReader(body))
		r.Header.Set("Access-Token", tiktoktest.DefaultToken)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte(`"code":0,`)) {
			b.Fatalf("HTTP %d %s", w.Code, w.Body.Bytes())
		}
	}
	if srv.AcceptedCount() != b.N*1000 {
		b.Fatalf("accepted %d of %d", srv.AcceptedCount(), b.N*1000)
	}
}
