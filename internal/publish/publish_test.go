package publish_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/publish"
)

const subject = "tiktok.rows.stores"

func withStream(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	_, js := natstest.Connect(tb, natstest.RunServer(tb))
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: "TIKTOK_ROWS", Subjects: []string{"tiktok.rows.>"},
	}); err != nil {
		tb.Fatal(err)
	}
	return js
}

// stored returns the messages of the stream and the rows they hold.
func stored(t *testing.T, js jetstream.JetStream) (msgs [][]byte, rows int) {
	t.Helper()
	ctx := context.Background()
	s, _ := js.Stream(ctx, "TIKTOK_ROWS")
	info, _ := s.Info(ctx)
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m.Data)
		if m.Data[0] == '[' {
			var arr []json.RawMessage
			if err := json.Unmarshal(m.Data, &arr); err != nil {
				t.Fatal(err)
			}
			rows += len(arr)
		} else {
			rows++
		}
	}
	return msgs, rows
}

func TestPublishCountsOnTheStream(t *testing.T) {
	tests := []struct {
		name                string
		format              publish.Format
		in                  string
		wantMsgs, wantRows  int
		wantFirst, wantLast string
	}{
		{
			name:   "csv",
			format: publish.FormatCSV,
			in: "event_id,content_id\n" +
				"o-1,a\no-1,b\no-1,c\n" + // one message of 3 rows
				"o-2,d\n" + // one of 1
				",e\n,f\n" + // no id: one each
				"o-3,g\no-3,h\n", // one of 2
			wantMsgs: 5, wantRows: 8,
			wantFirst: `[{"event_id":"o-1","content_id":"a"},{"event_id":"o-1","content_id":"b"},{"event_id":"o-1","content_id":"c"}]`,
			wantLast:  `[{"event_id":"o-3","content_id":"g"},{"event_id":"o-3","content_id":"h"}]`,
		},
		{
			name:   "jsonl",
			format: publish.FormatJSONL,
			in: `{"event_id":"o-1","content_id":"a"}
{"event_id":"o-1","content_id":"b"}
not json
{"event_id":"o-2","content_id":"c"}
`,
			wantMsgs: 3, wantRows: 4,
			wantFirst: `[{"event_id":"o-1","content_id":"a"},{"event_id":"o-1","content_id":"b"}]`,
			wantLast:  `{"event_id":"o-2","content_id":"c"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js := withStream(t)
			rd, err := publish.NewReader(strings.NewReader(tt.in), tt.format)
			if err != nil {
				t.Fatal(err)
			}
			var last publish.Summary
			sum, err := publish.Publish(context.Background(), js, subject, rd, publish.WithProgress(func(s publish.Summary) { last = s }))
			if err != nil {
				t.Fatal(err)
			}
			if sum.Messages != tt.wantMsgs || sum.Published != tt.wantMsgs || sum.Rows != tt.wantRows ||
				sum.PublishedRows != tt.wantRows || sum.Failed != 0 {
				t.Errorf("summary = %+v, want %d messages and %d rows all published", sum, tt.wantMsgs, tt.wantRows)
			}
			if last.Published != tt.wantMsgs {
				t.Errorf("last progress = %+v, want %d published", last, tt.wantMsgs)
			}
			msgs, rows := stored(t, js)
			if len(msgs) != tt.wantMsgs || rows != tt.wantRows {
				t.Errorf("stream holds %d messages and %d rows, want %d and %d", len(msgs), rows, tt.wantMsgs, tt.wantRows)
			}
			if string(msgs[0]) != tt.wantFirst || string(msgs[len(msgs)-1]) != tt.wantLast {
				t.Errorf("stream first/last = %s / %s", msgs[0], msgs[len(msgs)-1])
			}
		})
	}
}

func TestPublishWithoutStream(t *testing.T) {
	_, js := natstest.Connect(t, natstest.RunServer(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sum, err := publish.Rows(ctx, js, subject, [][]byte{[]byte(`{"event_id":"1"}`)})
	if !errors.Is(err, publish.ErrNoStream) {
		t.Fatalf("err = %v, want ErrNoStream", err)
	}
	if !strings.Contains(err.Error(), "worker run") || sum.Published != 0 {
		t.Errorf("err = %q (summary %+v); want it to say to run `worker run`", err, sum)
	}
}

func TestPublishReadErrorKeepsWhatWasRead(t *testing.T) {
	js := withStream(t)
	in := io.MultiReader(strings.NewReader("event_id\n1\n2\n"), iotest.ErrReader(errors.New("disk gone")))
	rd, err := publish.NewReader(in, publish.FormatCSV)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := publish.Publish(context.Background(), js, subject, rd)
	if err == nil || !strings.Contains(err.Error(), "disk gone") {
		t.Fatalf("err = %v, want the read error", err)
	}
	if sum.Published != 2 {
		t.Errorf("published %d, want the 2 rows before the bad line", sum.Published)
	}
}

func TestPublishCanceled(t *testing.T) {
	js := withStream(t)
	ctx, cancel := context.WithCancel(context.Background())
	bodies := make([][]byte, 1000)
	for i := range bodies {
		bodies[i] = []byte(`{"event_id":"x"}`)
	}
	sum, err := publish.Rows(ctx, js, subject, bodies, publish.WithMaxPending(8), publish.WithProgress(func(s publish.Summary) {
		if s.Published == 10 {
			cancel()
		}
	}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if sum.Messages >= 1000 || sum.Published < 10 || sum.Published+sum.Failed != sum.Messages {
		t.Errorf("summary %+v: want it stopped early, every sent message either published or failed", sum)
	}
}

func TestRowsCountsArrays(t *testing.T) {
	js := withStream(t)
	sum, err := publish.Rows(context.Background(), js, subject, [][]byte{
		[]byte(`{"event_id":"1"}`), []byte(` [{"event_id":"2"},{"event_id":"2"}]`), []byte(`junk`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Messages != 3 || sum.Rows != 4 || sum.PublishedRows != 4 {
		t.Errorf("summary = %+v, want 3 messages, 4 rows", sum)
	}
}

// BenchmarkPublish100k publishes 100,000 typical one-row messages read from JSON
// Lines to an embedded JetStream server (file store).
func BenchmarkPublish100k(b *testing.B) {
	const n = 100_000
	var in bytes.Buffer
	for i := range n {
		fmt.Fprintf(&in, `{"timestamp":"2025-11-24T10:00:00Z","event":"Purchase","event_id":"o-%d","email":"user%d@example.com","phone":"+1 415 555 %04d","content_id":"sku-1","price":19.99,"quantity":3}`+"\n", i, i, i%10000)
	}
	data := in.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		js := withStream(b)
		b.StartTimer()
		rd, err := publish.NewReader(bytes.NewReader(data), publish.FormatJSONL)
		if err != nil {
			b.Fatal(err)
		}
		sum, err := publish.Publish(context.Background(), js, subject, rd)
		if err != nil || sum.Published != n {
			b.Fatalf("published %d, %v", sum.Published, err)
		}
		b.ReportMetric(float64(n)/sum.Elapsed.Seconds(), "rows/s")
	}
}
