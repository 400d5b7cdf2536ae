package dlq_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
)

// orderLetters are the dead-lettered rows of one order (three line items of source
// message seq, event id id) on destination dest.
func orderLetters(dest, id string, seq uint64) []dlq.Letter {
	var ls []dlq.Letter
	for row := range 3 {
		l := letter(dest, dlq.ReasonInvalidRow, seq, row)
		l.Body = []byte(fmt.Sprintf(`{"event_id":%q,"content_id":"sku-%d","price":"%d.99"}`, id, row, row+1))
		ls = append(ls, l)
	}
	return ls
}

// TestReplayGroupsAnEventsRows: the rows of one event go back in one message (a JSON
// array, in DLQ order), so a corrected order is sent whole; rows of another source
// message, another destination or another event id are messages of their own.
func TestReplayGroupsAnEventsRows(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	var ls []dlq.Letter
	a := orderLetters("stores", "o-1", 10)
	b := orderLetters("stores", "o-2", 11)
	// Interleaved, as two replicas dead-lettering at once would write them.
	ls = append(ls, a[0], b[0], a[1], b[1], a[2], b[2])
	ls = append(ls, orderLetters("web", "o-1", 12)[0])                   // same id, another destination
	ls = append(ls, orderLetters("stores", "o-1", 13)[0])                // same id, another source message
	ls = append(ls, letter("stores", dlq.ReasonMalformedMessage, 14, 0)) // a lone letter
	ls[len(ls)-1].Body = []byte(`{not json`)
	if err := dlq.NewPublisher(js, testNames).Publish(ctx, ls); err != nil {
		t.Fatal(err)
	}
	var messages [][]uint64
	rep, err := dlq.Replay(ctx, js, testNames, dlq.Filter{}, false, dlq.OnReplayed(func(msg []dlq.Entry) {
		messages = append(messages, seqs(msg))
	}))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(messages) != "[[1 3 5] [2 4 6] [7] [8] [9]]" || rep.Replayed != 9 || rep.Messages != 5 {
		t.Fatalf("messages %v (%d letters, %d messages); want [[1 3 5] [2 4 6] [7] [8] [9]]", messages, rep.Replayed, rep.Messages)
	}
	got := rowsBodies(t, js)
	stores := got["tiktok.rows.stores"]
	if len(stores) != 4 {
		t.Fatalf("%d messages on tiktok.rows.stores, want 4", len(stores))
	}
	var order []map[string]string
	if err := json.Unmarshal(stores[0], &order); err != nil {
		t.Fatalf("the order is not one JSON array: %s (%v)", stores[0], err)
	}
	if len(order) != 3 || order[0]["content_id"] != "sku-0" || order[2]["content_id"] != "sku-2" || order[1]["event_id"] != "o-1" {
		t.Fatalf("order message = %s", stores[0])
	}
	if string(stores[2]) != string(ls[7].Body) || string(stores[3]) != "{not json" {
		t.Fatalf("lone letters not byte for byte: %q", stores[2:])
	}
	if n := msgs(t, js, testNames.DLQStream); n != 0 {
		t.Fatalf("DLQ holds %d", n)
	}
}

// TestReplayLimitNeverCutsAnEvent: --limit counts letters, but the rows of an event
// already taken come along.
func TestReplayLimitNeverCutsAnEvent(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	ls := append(orderLetters("stores", "o-1", 10), orderLetters("stores", "o-2", 11)...)
	if err := dlq.NewPublisher(js, testNames).Publish(ctx, ls); err != nil {
		t.Fatal(err)
	}
	rep, err := dlq.Replay(ctx, js, testNames, dlq.Filter{Limit: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seqs(rep.Entries)) != "[1 2 3]" || rep.Messages != 1 {
		t.Fatalf("replayed %v in %d messages, want [1 2 3] in 1", seqs(rep.Entries), rep.Messages)
	}
	if n := msgs(t, js, testNames.DLQStream); n != 3 {
		t.Fatalf("DLQ holds %d, want the second order's 3", n)
	}
}

// TestReplayInterruptedEventIsNotDoubled: a replay interrupted after an event's
// republish (some of its letters still in the DLQ) republishes the rest under the
// same Nats-Msg-Id, which the rows stream drops.
func TestReplayInterruptedEventIsNotDoubled(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	ls := orderLetters("stores", "o-1", 10)
	if err := dlq.NewPublisher(js, testNames).Publish(ctx, ls); err != nil {
		t.Fatal(err)
	}
	// As the first replay would have: the array published under the first letter's
	// id, the newest letter removed, then the process killed.
	body := `[` + string(ls[0].Body) + `,` + string(ls[1].Body) + `,` + string(ls[2].Body) + `]`
	if _, err := js.Publish(ctx, testNames.RowsSubject("stores"), []byte(body), jetstream.WithMsgID(dlq.ReplayMsgID(testNames, 1))); err != nil {
		t.Fatal(err)
	}
	s, _ := js.Stream(ctx, testNames.DLQStream)
	if err := s.DeleteMsg(ctx, 3); err != nil {
		t.Fatal(err)
	}
	rep, err := dlq.Replay(ctx, js, testNames, dlq.Filter{}, false)
	if err != nil || rep.Replayed != 2 {
		t.Fatalf("second replay: %d, %v", rep.Replayed, err)
	}
	if d, r := msgs(t, js, testNames.DLQStream), msgs(t, js, testNames.RowsStream); d != 0 || r != 1 {
		t.Fatalf("DLQ %d, rows %d; want 0 and the one whole order", d, r)
	}
}

func TestReplaySkipsUnconsumed(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	ls := []dlq.Letter{letter("stores", dlq.ReasonRejected, 1, 0), letter("gone", dlq.ReasonRejected, 2, 0), letter("a.b", dlq.ReasonRejected, 3, 0)}
	if err := dlq.NewPublisher(js, testNames).Publish(ctx, ls); err != nil {
		t.Fatal(err)
	}
	var skipped []string
	rep, err := dlq.Replay(ctx, js, testNames, dlq.Filter{}, false, dlq.Consumed([]string{"stores"}),
		dlq.OnSkipped(func(e dlq.Entry, why string) { skipped = append(skipped, e.Destination) }))
	if err != nil || rep.Replayed != 1 || rep.Skipped != 2 || fmt.Sprint(skipped) != "[gone a.b]" {
		t.Fatalf("replay = %+v, %v, skipped %v", rep, err, skipped)
	}
	if n := msgs(t, js, testNames.DLQStream); n != 2 {
		t.Fatalf("DLQ holds %d, want 2", n)
	}
}

func TestRemove(t *testing.T) {
	js := setup(t)
	ls := seed(t, js)
	ctx := context.Background()
	var printed []uint64
	rep, err := dlq.Remove(ctx, js, testNames, dlq.Filter{Reason: dlq.ReasonInvalidRow}, true, func(e dlq.Entry) { printed = append(printed, e.Seq) })
	if err != nil || rep.Removed != 0 || fmt.Sprint(printed) != "[1 3 4]" || msgs(t, js, testNames.DLQStream) != uint64(len(ls)) {
		t.Fatalf("dry run: %+v, %v, printed %v", rep, err, printed)
	}
	rep, err = dlq.Remove(ctx, js, testNames, dlq.Filter{Reason: dlq.ReasonInvalidRow, Limit: 2}, false, nil)
	if err != nil || rep.Removed != 2 || fmt.Sprint(seqs(rep.Entries)) != "[1 3]" {
		t.Fatalf("rm --limit 2: %+v, %v", rep, err)
	}
	left, _ := dlq.List(ctx, js, testNames, dlq.Filter{})
	if fmt.Sprint(seqs(left)) != "[2 4 5 6]" {
		t.Fatalf("left %v", seqs(left))
	}
	rep, err = dlq.RemoveSeqs(ctx, js, testNames, []uint64{5, 1, 6}, false, nil)
	if err == nil || rep.Removed != 2 {
		t.Fatalf("RemoveSeqs: %+v, %v; want 5 and 6 removed and an error naming 1", rep, err)
	}
	if got := err.Error(); !strings.Contains(got, "letter 1: not in TIKTOK_DLQ") {
		t.Fatalf("error %q", got)
	}
	left, _ = dlq.List(ctx, js, testNames, dlq.Filter{})
	if fmt.Sprint(seqs(left)) != "[2 4]" {
		t.Fatalf("left %v", seqs(left))
	}
}

func TestEventIDOf(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"event_id":"o-1","email":"x"}`, "o-1"},
		{`{"event_id":" o-2 "}`, "o-2"},
		{`{"event_id":1234}`, "1234"},
		{`{"event_id":null}`, ""},
		{`{"event_id":{"a":1}}`, ""},
		{`{"email":"x"}`, ""},
		{`[{"event_id":"o-1"}]`, ""},
		{`{broken`, ""},
		{``, ""},
	} {
		if got := dlq.EventIDOf([]byte(tc.body)); got != tc.want {
			t.Errorf("EventIDOf(%s) = %q, want %q", tc.body, got, tc.want)
		}
	}
}
