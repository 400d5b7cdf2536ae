package worker_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
)

func TestWindowFutureInvalidAndMalformed(t *testing.T) {
	e := newEnv(t, nil)
	old := row("too-old", 1)
	old["timestamp"] = now.Add(-29 * 24 * time.Hour).Unix()
	edge := row("edge", 2)
	edge["timestamp"] = now.Add(-27 * 24 * time.Hour).Unix()
	future := row("future", 3)
	future["timestamp"] = now.Add(11 * time.Minute).Unix()
	soon := row("soon", 4)
	soon["timestamp"] = now.Add(9 * time.Minute).Unix()
	bad := row("bad-email", 5)
	bad["email"] = "not-an-address"
	bad["phone"] = nil
	e.publish(offline, old, edge, future, soon, bad)
	e.publishRaw(offline, []byte(`{"timestamp": 1763980000, "email": `), 1) // truncated JSON
	e.publishRaw(offline, []byte(`42`), 1)
	e.publishRaw(offline, []byte(`[1, 2]`), 1)

	w := e.newWorker("a", e.options())
	e.start(w)
	e.waitSettled(15*time.Second, w)
	s := e.checkAccounting(w)
	want := map[string]int64{"outside_window": 1, "future_timestamp": 1, "invalid_row": 1, "malformed_message": 3}
	for r, n := range want {
		if s.DeadLettered[r] != n {
			t.Errorf("dead-lettered %s = %d, want %d (all: %v)", r, s.DeadLettered[r], n, s.DeadLettered)
		}
	}
	if s.Sent != 2 {
		t.Errorf("sent %d rows, want the 2 inside the window", s.Sent)
	}
	for _, l := range e.letters() {
		switch l.Reason {
		case "malformed_message":
			if b := string(l.Body); b != `{"timestamp": 1763980000, "email": ` && b != "42" && b != "[1, 2]" {
				t.Errorf("malformed letter body %q is not the message as it came", b)
			}
		case "invalid_row":
			if l.Field != "email" || strings.Contains(l.Error, "not-an-address") {
				t.Errorf("invalid_row letter: field %q error %q (want field email, no raw value)", l.Field, l.Error)
			}
		}
	}
}

// TestWindowRecheckedOnRedelivery: a row that waits out its window while TikTok is
// down is dead-lettered outside_window when it comes back, never sent late or dropped.
func TestWindowRecheckedOnRedelivery(t *testing.T) {
	e := newEnv(t, nil)
	r := row("waits", 1)
	r["timestamp"] = now.Add(-28*24*time.Hour + time.Hour).Unix() // one hour of window left
	e.tt.RevokeToken("sandbox-token")
	e.publish(offline, r)
	w := e.newWorker("a", e.options())
	e.start(w)
	waitFor(t, "the pause", 10*time.Second, func() bool { ok, _ := w.Ready(); return !ok })
	e.setNow(now.Add(2 * time.Hour))
	e.tt.RestoreToken("sandbox-token")
	e.waitSettled(15*time.Second, w)
	s := e.checkAccounting(w)
	if s.DeadLettered["outside_window"] != 1 || s.Sent != 0 || s.SentEvents != 0 {
		t.Errorf("sent %d (%d events), dead-lettered %v; want the row outside_window", s.Sent, s.SentEvents, s.DeadLettered)
	}
	if n := e.tt.AcceptedCount(); n != 0 {
		t.Errorf("TikTok accepted %d events after their window", n)
	}
}

func TestEveryDeadLetterHeader(t *testing.T) {
	e := newEnv(t, nil)
	e.tt.PoisonEvent("poison")
	bad := row("bad-phone", 1)
	bad["phone"] = "555"
	good := row("fine", 2)
	e.publish(offline, good, row("poison", 3), bad)

	w := e.newWorker("a", e.options())
	e.start(w)
	e.waitSettled(15*time.Second, w)
	e.checkAccounting(w)
	ls := e.letters()
	if len(ls) != 2 {
		t.Fatalf("got %d letters, want 2: %+v", len(ls), ls)
	}
	byReason := map[string]dlq.Entry{}
	for _, l := range ls {
		byReason[l.Reason] = l
	}
	inv, rej := byReason["invalid_row"], byReason["rejected"]
	if inv.Field != "phone" || inv.Error == "" || inv.Destination != offline {
		t.Errorf("invalid_row letter: %+v", inv)
	}
	if rej.TikTokCode != 40002 || rej.TikTokReqID == "" || !strings.Contains(rej.Error, "40002") {
		t.Errorf("rejected letter lacks TikTok's code, request id or message: %+v", rej)
	}
	for _, l := range []dlq.Entry{inv, rej} {
		if l.SourceSubject != "tiktok.rows.stores" || l.SourceSeq != 1 || l.Attempts != 1 || !l.FailedAt.Equal(now) {
			t.Errorf("%s letter source/attempts/failed-at: %+v", l.Reason, l)
		}
		var body map[string]any
		if err := json.Unmarshal(l.Body, &body); err != nil {
			t.Errorf("%s letter body is not a JSON row: %v", l.Reason, err)
		}
		if email, _ := body["email"].(string); len(email) != 64 {
			t.Errorf("%s letter body carries e-mail %q, want its SHA-256", l.Reason, email)
		}
	}
	if rej.Subject != "tiktok.dlq.stores" {
		t.Errorf("letter subject %q", rej.Subject)
	}
	// Nats-Msg-Id makes a repeated publish a no-op.
	ctx := t.Context()
	st, err := e.js.Stream(ctx, e.names.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := st.GetMsg(ctx, rej.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if id := msg.Header.Get("Nats-Msg-Id"); id == "" || id != dlq.MsgID(dlq.Letter{SourceSubject: rej.SourceSubject, SourceSeq: rej.SourceSeq, Row: 1, Reason: "rejected"}) {
		t.Errorf("Nats-Msg-Id %q does not name the source row", id)
	}
	for _, h := range []string{"Dlq-Reason", "Dlq-Error", "Dlq-Tiktok-Code", "Dlq-Tiktok-Request-Id", "Dlq-Source-Subject", "Dlq-Source-Seq", "Dlq-Attempts", "Dlq-Failed-At"} {
		if msg.Header.Get(h) == "" {
			t.Errorf("rejected letter lacks header %s", h)
		}
	}
}

func TestPoisonEventAlone(t *testing.T) {
	e := newEnv(t, nil)
	e.tt.PoisonEvent("p-417")
	for i := range 1000 {
		e.publish(offline, row("p-"+strconv.Itoa(i), i))
	}
	w := e.newWorker("a", e.options())
	e.start(w)
	e.waitSettled(20*time.Second, w)
	s := e.checkAccounting(w)
	e.noRepeats()
	if s.DeadLettered["rejected"] != 1 || s.DeadLetteredTotal() != 1 || s.Sent != 999 {
		t.Errorf("sent %d, dead-lettered %v; want 999 sent and p-417 rejected", s.Sent, s.DeadLettered)
	}
	ls := e.letters()
	if len(ls) != 1 || ls[0].TikTokCode != 40002 || ls[0].SourceSeq != 418 {
		t.Fatalf("letters: %+v", ls)
	}
	if e.acceptedIDs()["p-417"] != 0 {
		t.Error("the poison event was accepted")
	}
}
