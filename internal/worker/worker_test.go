package worker_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
)

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// expected runs the rows of one message through a transformer of the destination,
// as the worker would, and returns the encoded events by id.
func (e *env) expected(dest string, rows ...map[string]any) map[string][]byte {
	e.t.Helper()
	var cfg events.Config
	for _, d := range e.dests {
		if d.Name == dest {
			cfg = d.Events
		}
	}
	cfg.Now = e.now
	tf, err := events.NewTransformer(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	body, _ := json.Marshal(rows)
	var res events.Result
	if err := tf.Message(body, &res); err != nil {
		e.t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, ev := range res.Events {
		out[ev.ID] = append([]byte(nil), ev.JSON...)
	}
	return out
}

func TestHappyPathOfflineAndWeb(t *testing.T) {
	e := newEnv(t, nil)
	want := map[string][]byte{}
	// Offline: 300 one-row messages and 20 three-line orders (rows sharing an event_id).
	for i := range 300 {
		r := row(fmt.Sprintf("o-%d", i), i)
		e.publish(offline, r)
		for k, v := range e.expected(offline, r) {
			want["offline/"+k] = v
		}
	}
	for i := range 20 {
		id := fmt.Sprintf("order-%d", i)
		rs := []map[string]any{row(id, 1000+i), row(id, 1000+i), row(id, 1000+i)}
		for j, r := range rs {
			r["content_id"] = fmt.Sprintf("sku-%d", j)
		}
		e.publish(offline, rs...)
		for k, v := range e.expected(offline, rs...) {
			want["offline/"+k] = v
		}
	}
	// Web: 200 rows in 4 messages of 50.
	for m := range 4 {
		var rs []map[string]any
		for i := range 50 {
			rs = append(rs, webRow(fmt.Sprintf("w-%d-%d", m, i), m*50+i))
		}
		e.publish(web, rs...)
		for k, v := range e.expected(web, rs...) {
			want["web/"+k] = v
		}
	}

	w := e.newWorker("a", e.options())
	e.start(w)
	e.waitSettled(20*time.Second, w)
	s := e.checkAccounting(w)
	if s.Sent != e.publishedRows() || s.SentEvents != int64(len(want)) {
		t.Errorf("sent %d rows in %d events, want %d rows in %d events", s.Sent, s.SentEvents, e.publishedRows(), len(want))
	}
	// Acks are asynchronous: the work-queue stream empties shortly after.
	waitFor(t, "the rows stream to empty", 5*time.Second, func() bool { return e.rowsInStream() == 0 })

	got := map[string][]byte{}
	for _, a := range e.tt.Accepted() {
		got[a.EventSource+"/"+a.EventID] = a.Raw
	}
	if len(got) != len(want) {
		t.Fatalf("stand-in accepted %d distinct events, want %d", len(got), len(want))
	}
	for k, v := range want {
		if !jsonEqual(t, got[k], v) {
			t.Errorf("event %s: accepted %s, want %s", k, got[k], v)
		}
	}
	// Spot-check the hashing against the published values.
	raw := string(got["offline/o-7"])
	if !strings.Contains(raw, sha("customer.7@example.com")) || strings.Contains(raw, "Example.com") {
		t.Errorf("offline event o-7 does not carry the hashed e-mail: %s", raw)
	}
	if !strings.Contains(raw, sha("+14155550007")) {
		t.Errorf("offline event o-7 does not carry the hashed E.164 phone: %s", raw)
	}
	if raw := string(got["web/w-0-3"]); !strings.Contains(raw, sha("user-3")) || !strings.Contains(raw, `"page"`) {
		t.Errorf("web event w-0-3 lacks its hashed external_id or page: %s", raw)
	}
	if ok, reasons := w.Ready(); !ok {
		t.Errorf("Ready() = false %v on a healthy run", reasons)
	}
}

func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		return false
	}
	if err := json.Unmarshal(b, &y); err != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}
