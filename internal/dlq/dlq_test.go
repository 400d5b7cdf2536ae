package dlq_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
)

// testNames spells the topology out rather than calling broker.NamesFor, so these
// tests do not depend on the broker package's implementation.
var testNames = broker.Names{
	Prefix:     "tiktok",
	RowsStream: "TIKTOK_ROWS",
	DLQStream:  "TIKTOK_DLQ",
}

// setup starts a JetStream server with the rows and DLQ streams, both with a
// duplicates window as the broker creates them.
func setup(t *testing.T) jetstream.JetStream {
	t.Helper()
	_, js := natstest.Connect(t, natstest.RunServer(t))
	ctx := context.Background()
	for name, subj := range map[string]string{
		testNames.RowsStream: testNames.RowsSubject(">"),
		testNames.DLQStream:  testNames.DLQSubject(">"),
	} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
			Name: name, Subjects: []string{subj}, Duplicates: 2 * time.Minute,
		}); err != nil {
			t.Fatalf("create stream %s: %v", name, err)
		}
	}
	return js
}

func msgs(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

var t0 = time.Date(2025, 11, 24, 10, 0, 0, 0, time.UTC)

func letter(dest, reason string, seq uint64, row int) dlq.Letter {
	return dlq.Letter{
		Destination:   dest,
		Body:          []byte(fmt.Sprintf(`{"event_id":"e-%d-%d","email":"%064x"}`, seq, row, seq)),
		Reason:        reason,
		Error:         "email: not an address",
		SourceSubject: testNames.RowsSubject(dest),
		SourceSeq:     seq,
		Row:           row,
		Attempts:      1,
		FailedAt:      t0.Add(time.Duration(seq) * time.Minute),
	}
}

func TestPublishHeaders(t *testing.T) {
	tests := []struct {
		name   string
		letter dlq.Letter
		want   map[string]string // "" = header absent
	}{
		{
			name: "rejected with every field",
			letter: dlq.Letter{
				Destination: "stores", Body: []byte(`{"event_id":"o-1"}`), Reason: dlq.ReasonRejected,
				Error: "invalid event", Field: "event", TikTokCode: 40002, TikTokReqID: "req-42",
				SourceSubject: "tiktok.rows.stores", SourceSeq: 17, Row: 3, Attempts: 2,
				FailedAt: time.Date(2025, 11, 24, 12, 30, 5, 0, time.FixedZone("CET", 3600)),
			},
			want: map[string]string{
				dlq.HeaderReason: "rejected", dlq.HeaderError: "invalid event", dlq.HeaderField: "event",
				dlq.HeaderTikTokCode: "40002", dlq.HeaderTikTokReqID: "req-42",
				dlq.HeaderSourceSubject: "tiktok.rows.stores", dlq.HeaderSourceSeq: "17",
				dlq.HeaderAttempts: "2", dlq.HeaderFailedAt: "2025-11-24T11:30:05Z",
			},
		},
		{
			name: "malformed without field or code",
			letter: dlq.Letter{
				Destination: "web", Body: []byte(`{not json`), Reason: dlq.ReasonMalformedMessage,
				Error: "not a JSON object or array", SourceSubject: "tiktok.rows.web", SourceSeq: 9,
				Attempts: 1, FailedAt: t0,
			},
			want: map[string]string{
				dlq.HeaderReason: "malformed_message", dlq.HeaderError: "not a JSON object or array",
				dlq.HeaderField: "", dlq.HeaderTikTokCode: "", dlq.HeaderTikTokReqID: "",
				dlq.HeaderSourceSubject: "tiktok.rows.web", dlq.HeaderSourceSeq: "9",
				dlq.HeaderAttempts: "1", dlq.HeaderFailedAt: "2025-11-24T10:00:00Z",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js := setup(t)
			ctx := context.Background()
			if err := dlq.NewPublisher(js, testNames).Publish(ctx, []dlq.Letter{tt.letter}); err != nil {
				t.Fatal(err)
			}
			s, _ := js.Stream(ctx, testNames.DLQStream)
			m, err := s.GetMsg(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if want := "tiktok.dlq." + tt.letter.Destination; m.Subject != want {
				t.Errorf("subject = %q, want %q", m.Subject, want)
			}
			if !bytes.Equal(m.Data, tt.letter.Body) {
				t.Errorf("body = %q, want %q", m.Data, tt.letter.Body)
			}
			for k, want := range tt.want {
				vals, present := m.Header[k]
				switch {
				case want == "" && present:
					t.Errorf("header %s = %q, want it absent", k, vals)
				case want != "" && m.Header.Get(k) != want:
					t.Errorf("header %s = %q, want %q", k, m.Header.Get(k), want)
				}
			}
			if got, want := m.Header.Get(jetstream.MsgIDHeader), dlq.MsgID(tt.letter); got != want || got == "" {
				t.Errorf("Nats-Msg-Id = %q, want %q", got, want)
			}
			for k := range m.Header {
				if len(k) >= 5 && k[:5] == "Nats-" && k != jetstream.MsgIDHeader {
					t.Errorf("unexpected header %s (only Nats-Msg-Id may start with Nats-)", k)
				}
			}
		})
	}
}

func TestPublishIsIdempotent(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	p := dlq.NewPublisher(js, testNames)
	l := letter("stores", dlq.ReasonInvalidRow, 5, 2)
	for range 3 {
		// A crashed worker publishes the same letter again, even at another time.
		l.FailedAt = l.FailedAt.Add(time.Minute)
		if err := p.Publish(ctx, []dlq.Letter{l}); err != nil {
			t.Fatal(err)
		}
	}
	if n := msgs(t, js, testNames.DLQStream); n != 1 {
		t.Fatalf("DLQ holds %d messages after 3 publishes of one letter, want 1", n)
	}
	// Another row, or another reason, of the same source message is another letter.
	other := l
	other.Row = 3
	another := l
	another.Reason = dlq.ReasonOutsideWindow
	if err := p.Publish(ctx, []dlq.Letter{other, another}); err != nil {
		t.Fatal(err)
	}
	if n := msgs(t, js, testNames.DLQStream); n != 3 {
		t.Fatalf("DLQ holds %d messages, want 3", n)
	}
}

func TestPublishWithoutStreamFails(t *testing.T) {
	_, js := natstest.Connect(t, natstest.RunServer(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := dlq.NewPublisher(js, testNames).Publish(ctx, []dlq.Letter{letter("stores", dlq.ReasonInvalidRow, 1, 0)})
	if err == nil {
		t.Fatal("publish without a DLQ stream succeeded; a worker would ack rows that were never dead-lettered")
	}
	if !bytes.Contains([]byte(err.Error()), []byte("worker run")) {
		t.Errorf("error %q does not say what to do", err)
	}
}

// seed publishes a known mix of letters and returns them.
func seed(t *testing.T, js jetstream.JetStream) []dlq.Letter {
	t.Helper()
	ls := []dlq.Letter{
		letter("stores", dlq.ReasonInvalidRow, 1, 0),
		letter("stores", dlq.ReasonRejected, 2, 0),
		letter("web", dlq.ReasonInvalidRow, 3, 0),
		letter("stores", dlq.ReasonInvalidRow, 4, 1),
		letter("web", dlq.ReasonOutsideWindow, 5, 0),
		letter("stores", dlq.ReasonMalformedMessage, 6, 0),
	}
	ls[1].TikTokCode = 40002
	ls[5].Body = []byte("{not json at all")
	if err := dlq.NewPublisher(js, testNames).Publish(context.Background(), ls); err != nil {
		t.Fatal(err)
	}
	return ls
}

func seqs(es []dlq.Entry) []uint64 {
	out := []uint64{}
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func TestList(t *testing.T) {
	js := setup(t)
	ls := seed(t, js)
	tests := []struct {
		name string
		f    dlq.Filter
		want []uint64
	}{
		{"all", dlq.Filter{}, []uint64{1, 2, 3, 4, 5, 6}},
		{"destination", dlq.Filter{Destination: "stores"}, []uint64{1, 2, 4, 6}},
		{"reason", dlq.Filter{Reason: dlq.ReasonInvalidRow}, []uint64{1, 3, 4}},
		{"destination and reason", dlq.Filter{Destination: "web", Reason: dlq.ReasonInvalidRow}, []uint64{3}},
		{"limit", dlq.Filter{Limit: 2}, []uint64{1, 2}},
		{"limit counts matches only", dlq.Filter{Reason: dlq.ReasonInvalidRow, Limit: 2}, []uint64{1, 3}},
		{"since the future", dlq.Filter{Since: time.Now().Add(time.Hour)}, []uint64{}},
		{"since the past", dlq.Filter{Since: time.Now().Add(-time.Hour)}, []uint64{1, 2, 3, 4, 5, 6}},
		{"unknown destination", dlq.Filter{Destination: "nowhere"}, []uint64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := dlq.List(ctx, js, testNames, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(seqs(got)) != fmt.Sprint(tt.want) {
				t.Fatalf("seqs = %v, want %v", seqs(got), tt.want)
			}
		})
	}

	t.Run("entry fields", func(t *testing.T) {
		got, err := dlq.List(context.Background(), js, testNames, dlq.Filter{Reason: dlq.ReasonRejected})
		if err != nil || len(got) != 1 {
			t.Fatalf("List = %v, %v", got, err)
		}
		e, l := got[0], ls[1]
		if e.Destination != "stores" || e.Subject != "tiktok.dlq.stores" || e.Reason != l.Reason ||
			e.Error != l.Error || e.TikTokCode != 40002 || e.SourceSubject != l.SourceSubject ||
			e.SourceSeq != l.SourceSeq || e.Attempts != 1 || !e.FailedAt.Equal(l.FailedAt) ||
			!bytes.Equal(e.Body, l.Body) || e.Time.IsZero() {
			t.Errorf("entry = %+v, from letter %+v", e, l)
		}
	})

	t.Run("since between letters", func(t *testing.T) {
		// Stream time is the server's clock: take the 4th letter's stored time.
		all, _ := dlq.List(context.Background(), js, testNames, dlq.Filter{})
		p := dlq.NewPublisher(js, testNames)
		late := letter("stores", dlq.ReasonInvalidRow, 99, 0)
		if err := p.Publish(context.Background(), []dlq.Letter{late}); err != nil {
			t.Fatal(err)
		}
		got, err := dlq.List(context.Background(), js, testNames, dlq.Filter{Since: all[len(all)-1].Time.Add(time.Nanosecond)})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(seqs(got)) != "[7]" {
			t.Errorf("seqs = %v, want [7]", seqs(got))
		}
	})
}

func TestListWithoutStream(t *testing.T) {
	_, js := natstest.Connect(t, natstest.RunServer(t))
	_, err := dlq.List(context.Background(), js, testNames, dlq.Filter{})
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("err = %v, want stream not found", err)
	}
}

func TestListEmpty(t *testing.T) {
	js := setup(t)
	got, err := dlq.List(context.Background(), js, testNames, dlq.Filter{})
	if err != nil || len(got) != 0 {
		t.Fatalf("List = %v, %v; want nothing", got, err)
	}
}

// TestListStopsAtStart: letters published while a List runs are not waited for.
func TestListStopsAtStart(t *testing.T) {
	js := setup(t)
	seed(t, js)
	p := dlq.NewPublisher(js, testNames)
	n := 0
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A dry-run Remove calls back during the scan, letter by letter.
	got, err := dlq.Remove(ctx, js, testNames, dlq.Filter{Destination: "web"}, true, func(dlq.Entry) {
		n++
		if err := p.Publish(ctx, []dlq.Letter{letter("web", dlq.ReasonInvalidRow, uint64(100+n), 0)}); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seqs(got.Entries)) != "[3 5]" {
		t.Fatalf("seqs = %v, want [3 5] (the letters present at the start)", seqs(got.Entries))
	}
}

func TestStats(t *testing.T) {
	js := setup(t)
	seed(t, js)
	got, err := dlq.Stats(context.Background(), js, testNames, dlq.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	// Every seeded row carries an e-mail; the malformed message carries nothing.
	email := func(n int) map[string]int { return map[string]int{"email": n} }
	want := []dlq.Count{
		{Destination: "stores", Reason: "invalid_row", Count: 2, Oldest: t0.Add(1 * time.Minute), Newest: t0.Add(4 * time.Minute), MatchKeys: email(2)},
		{Destination: "stores", Reason: "malformed_message", Count: 1, Oldest: t0.Add(6 * time.Minute), Newest: t0.Add(6 * time.Minute), MatchKeys: map[string]int{}},
		{Destination: "stores", Reason: "rejected", Count: 1, Oldest: t0.Add(2 * time.Minute), Newest: t0.Add(2 * time.Minute), MatchKeys: email(1)},
		{Destination: "web", Reason: "invalid_row", Count: 1, Oldest: t0.Add(3 * time.Minute), Newest: t0.Add(3 * time.Minute), MatchKeys: email(1)},
		{Destination: "web", Reason: "outside_window", Count: 1, Oldest: t0.Add(5 * time.Minute), Newest: t0.Add(5 * time.Minute), MatchKeys: email(1)},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Stats =\n%v\nwant\n%v", got, want)
	}
	got, err = dlq.Stats(context.Background(), js, testNames, dlq.Filter{Destination: "web"})
	if err != nil || len(got) != 2 || got[0].Count+got[1].Count != 2 {
		t.Errorf("Stats(web) = %v, %v", got, err)
	}
}

func rowsBodies(t *testing.T, js jetstream.JetStream) map[string][][]byte {
	t.Helper()
	ctx := context.Background()
	s, _ := js.Stream(ctx, testNames.RowsStream)
	info, _ := s.Info(ctx)
	out := map[string][][]byte{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		out[m.Subject] = append(out[m.Subject], m.Data)
	}
	return out
}

func TestReplayRoundTrip(t *testing.T) {
	js := setup(t)
	ls := seed(t, js)
	ctx := context.Background()
	var printed []uint64
	rep, err := dlq.Replay(ctx, js, testNames, dlq.Filter{}, false, dlq.OnReplayed(func(msg []dlq.Entry) { printed = append(printed, seqs(msg)...) }))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Replayed != len(ls) || len(printed) != len(ls) {
		t.Fatalf("replayed %d (printed %d), want %d", rep.Replayed, len(printed), len(ls))
	}
	if n := msgs(t, js, testNames.DLQStream); n != 0 {
		t.Errorf("DLQ holds %d after replay, want 0", n)
	}
	got := rowsBodies(t, js)
	want := map[string][][]byte{}
	for _, l := range ls {
		want["tiktok.rows."+l.Destination] = append(want["tiktok.rows."+l.Destination], l.Body)
	}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("rows stream =\n%q\nwant (byte-identical bodies, malformed one included)\n%q", got, want)
	}

	// Replaying the same letters again (as if the DLQ delete had been lost) is
	// absorbed by the rows stream's duplicates window.
	for _, e := range rep.Entries {
		if _, err := js.Publish(ctx, testNames.RowsSubject(e.Destination), e.Body, jetstream.WithMsgID(dlq.ReplayMsgID(testNames, e.Seq))); err != nil {
			t.Fatal(err)
		}
	}
	if n := msgs(t, js, testNames.RowsStream); n != uint64(len(ls)) {
		t.Errorf("rows stream holds %d after a repeated replay, want %d", n, len(ls))
	}
}

func TestReplayFiltered(t *testing.T) {
	js := setup(t)
	seed(t, js)
	rep, err := dlq.Replay(context.Background(), js, testNames, dlq.Filter{Destination: "stores", Reason: dlq.ReasonInvalidRow}, false)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seqs(rep.Entries)) != "[1 4]" || rep.Replayed != 2 {
		t.Fatalf("replayed %v (%d), want [1 4]", seqs(rep.Entries), rep.Replayed)
	}
	left, _ := dlq.List(context.Background(), js, testNames, dlq.Filter{})
	if fmt.Sprint(seqs(left)) != "[2 3 5 6]" {
		t.Errorf("DLQ left %v, want [2 3 5 6]", seqs(left))
	}
}

func TestReplayDryRunChangesNothing(t *testing.T) {
	js := setup(t)
	ls := seed(t, js)
	rep, err := dlq.Replay(context.Background(), js, testNames, dlq.Filter{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.DryRun || rep.Replayed != 0 || len(rep.Entries) != len(ls) {
		t.Fatalf("dry run report = %+v", rep)
	}
	if n := msgs(t, js, testNames.DLQStream); n != uint64(len(ls)) {
		t.Errorf("DLQ holds %d after a dry run, want %d", n, len(ls))
	}
	if n := msgs(t, js, testNames.RowsStream); n != 0 {
		t.Errorf("rows stream holds %d after a dry run, want 0", n)
	}
}

func TestReplayStopsOnCancel(t *testing.T) {
	js := setup(t)
	ls := seed(t, js)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	rep, err := dlq.Replay(ctx, js, testNames, dlq.Filter{}, false, dlq.OnReplayed(func([]dlq.Entry) {
		n++
		if n == 2 {
			cancel() // the operator hits ^C after the second letter
		}
	}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if rep.Replayed != 2 {
		t.Fatalf("replayed %d, want 2", rep.Replayed)
	}
	if d, r := msgs(t, js, testNames.DLQStream), msgs(t, js, testNames.RowsStream); d != uint64(len(ls)-2) || r != 2 {
		t.Errorf("after cancel: DLQ %d, rows %d; want %d and 2 (nothing lost, nothing doubled)", d, r, len(ls)-2)
	}
	// Running it again finishes the job.
	rep, err = dlq.Replay(context.Background(), js, testNames, dlq.Filter{}, false)
	if err != nil || rep.Replayed != len(ls)-2 {
		t.Fatalf("second replay = %d, %v", rep.Replayed, err)
	}
	if d, r := msgs(t, js, testNames.DLQStream), msgs(t, js, testNames.RowsStream); d != 0 || r != uint64(len(ls)) {
		t.Errorf("after second replay: DLQ %d, rows %d", d, r)
	}
}

func TestReplayWithoutRowsStreamKeepsLetters(t *testing.T) {
	_, js := natstest.Connect(t, natstest.RunServer(t))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: testNames.DLQStream, Subjects: []string{"tiktok.dlq.>"}}); err != nil {
		t.Fatal(err)
	}
	seed(t, js)
	rep, err := dlq.Replay(ctx, js, testNames, dlq.Filter{}, false)
	if err == nil || rep.Replayed != 0 {
		t.Fatalf("replay without a rows stream = %d, %v; want an error", rep.Replayed, err)
	}
	if n := msgs(t, js, testNames.DLQStream); n != 6 {
		t.Errorf("DLQ holds %d, want all 6 letters kept", n)
	}
}

func TestValidReason(t *testing.T) {
	for _, r := range dlq.Reasons() {
		if !dlq.ValidReason(r) {
			t.Errorf("ValidReason(%q) = false", r)
		}
	}
	for _, r := range []string{"", "Rejected", "timeout"} {
		if dlq.ValidReason(r) {
			t.Errorf("ValidReason(%q) = true", r)
		}
	}
}

// TestListManyBatches crosses several fetches, with a filter that skips letters.
func TestListManyBatches(t *testing.T) {
	js := setup(t)
	var ls []dlq.Letter
	for i := range 700 {
		reason := dlq.ReasonInvalidRow
		if i%7 == 0 {
			reason = dlq.ReasonRejected
		}
		ls = append(ls, letter("stores", reason, uint64(i+1), 0))
	}
	if err := dlq.NewPublisher(js, testNames).Publish(context.Background(), ls); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tt := range []struct {
		f    dlq.Filter
		want int
	}{
		{dlq.Filter{}, 700},
		{dlq.Filter{Limit: 300}, 300},
		{dlq.Filter{Reason: dlq.ReasonRejected}, 100},
		{dlq.Filter{Reason: dlq.ReasonRejected, Limit: 60}, 60},
	} {
		got, err := dlq.List(ctx, js, testNames, tt.f)
		if err != nil || len(got) != tt.want {
			t.Errorf("List(%+v) = %d letters, %v; want %d", tt.f, len(got), err, tt.want)
		}
	}
}

// TestStatsMatchKeys: each match key a dead-lettered row carries is counted under the
// worker's key name (agent → user_agent, cookie_id → ttp, …); empty and null values
// are not, nor is anything of a malformed body.
func TestStatsMatchKeys(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	bodies := []string{
		`{"event_id":"a","email":"x@example.com","phone":"","agent":"Mozilla/5.0","cookie_id":"c-1","first_name":"ann"}`,
		`{"event_id":"b","email":"y@example.com","phone":null,"tiktok_click_id":"E.C.P","ip":"192.0.2.1"}`,
		`{"event_id":"c","Phone":"+14155550123","zip_code":"94107"}`,
		`[not json`,
	}
	var ls []dlq.Letter
	for i, b := range bodies {
		l := letter("web", dlq.ReasonInvalidRow, uint64(i+1), 0)
		l.Body = []byte(b)
		ls = append(ls, l)
	}
	if err := dlq.NewPublisher(js, testNames).Publish(ctx, ls); err != nil {
		t.Fatal(err)
	}
	got, err := dlq.Stats(ctx, js, testNames, dlq.Filter{})
	if err != nil || len(got) != 1 {
		t.Fatalf("Stats = %v, %v", got, err)
	}
	want := map[string]int{"email": 2, "phone": 1, "user_agent": 1, "ttp": 1, "ttclid": 1, "ip": 1, "first_name": 1, "zip_code": 1}
	if fmt.Sprint(got[0].MatchKeys) != fmt.Sprint(want) || got[0].Count != 4 {
		t.Errorf("match keys of 4 letters = %v (count %d), want %v", got[0].MatchKeys, got[0].Count, want)
	}
}
