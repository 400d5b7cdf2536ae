package worker_test

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/metrics"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// TestLogsCarryNoPIIOrToken runs every path — delivery, invalid rows, a poison event,
// a credential pause, an outage, a drain — and greps every log line for the raw
// e-mails and phones it published and for the token.
func TestLogsCarryNoPIIOrToken(t *testing.T) {
	e := newEnv(t, nil, withMaxElapsed(200*time.Millisecond))
	var secrets []string
	for i := range 200 {
		r := row(fmt.Sprintf("pii-%d", i), i)
		switch i % 10 {
		case 3:
			r["email"] = fmt.Sprintf("broken-%d.example.com", i) // invalid: no @
		case 4:
			r["phone"] = fmt.Sprintf("(55) %d", i%10) // invalid: too short (punctuated, so the grep below cannot match a digit run of a timestamp or id by chance)
		case 5:
			e.tt.PoisonEvent(r["event_id"].(string))
		}
		secrets = append(secrets, r["email"].(string), strings.TrimSpace(r["email"].(string)),
			strings.ToLower(strings.TrimSpace(r["email"].(string))), r["phone"].(string),
			fmt.Sprintf("+1415555%04d", i%10000), fmt.Sprintf("415555%04d", i%10000))
		e.publish(offline, r)
	}
	o := e.options()
	o.RetryingAfter = 20 * time.Millisecond // the outage below also logs that it retries
	w := e.newWorker("a", o)
	run := e.start(w)
	e.waitSettled(20*time.Second, w)

	e.tt.RevokeToken(tiktoktest.DefaultToken)
	e.publishMany(offline, "later", 20)
	waitFor(t, "the credential pause", 10*time.Second, func() bool { ok, _ := w.Ready(); return !ok })
	e.tt.SetErrorRate(1, 1)
	e.tt.RestoreToken(tiktoktest.DefaultToken)
	waitFor(t, "outage probes", 10*time.Second, func() bool { return e.tt.Stats().Codes[503] > 5 })
	e.tt.SetErrorRate(0, 1)
	e.waitSettled(20*time.Second, w)
	run.stop(t)
	e.checkAccounting(w)

	logs := e.logs.String()
	if !strings.Contains(logs, "paused") || !strings.Contains(logs, "resumed") {
		t.Fatalf("the run did not log its pause and resume; logs:\n%s", logs)
	}
	for _, s := range append(secrets, tiktoktest.DefaultToken) {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("logs carry %q", s)
		}
	}
	t.Logf("%d log lines checked", strings.Count(logs, "\n"))
}

// TestMetricsMatchStats: the Prometheus counters of a run agree with Stats.
func TestMetricsMatchStats(t *testing.T) {
	e := newEnv(t, nil)
	d := e.deps("a")
	m := metrics.New()
	d.Metrics = m
	o := e.options()
	o.PendingInterval = 20 * time.Millisecond
	w, err := newWorkerWith(d, o)
	if err != nil {
		t.Fatal(err)
	}
	e.tt.PoisonEvent("m-3")
	for i := range 100 {
		e.publish(offline, row(fmt.Sprintf("m-%d", i), i))
	}
	bad := row("m-bad", 1)
	bad["email"] = "nope"
	e.publish(offline, bad)
	e.publish(offline, row("m-5", 5)) // duplicate
	e.start(w)
	e.waitSettled(15*time.Second, w)
	s := e.checkAccounting(w)

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	var body string
	waitFor(t, "consumer_pending refreshed", 5*time.Second, func() bool {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		return strings.Contains(body, `tiktok_worker_consumer_pending{destination="stores"} 0`)
	})
	for _, want := range []string{
		fmt.Sprintf(`tiktok_worker_rows_received_total{destination="stores"} %d`, s.Received),
		fmt.Sprintf(`tiktok_worker_rows_sent_total{destination="stores"} %d`, s.Sent),
		fmt.Sprintf(`tiktok_worker_events_sent_total{destination="stores"} %d`, s.SentEvents),
		fmt.Sprintf(`tiktok_worker_rows_duplicate_total{destination="stores"} %d`, s.Duplicates),
		`tiktok_worker_rows_dead_lettered_total{destination="stores",reason="invalid_row"} 1`,
		`tiktok_worker_rows_dead_lettered_total{destination="stores",reason="rejected"} 1`,
		fmt.Sprintf(`tiktok_worker_requests_total{destination="stores"} %d`, s.Requests),
		`tiktok_worker_destination_paused{destination="stores"} 0`,
		`tiktok_worker_batch_size_events_count{destination="stores"}`,
		`tiktok_worker_request_duration_seconds_bucket{destination="stores"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// TikTok's answers are counted by the client's observer (internal/service), once
	// per HTTP exchange; the worker counting its outcomes too would count them twice.
	if strings.Contains(body, "tiktok_worker_tiktok_responses_total{") {
		t.Error("the worker counts tiktok_responses_total itself")
	}
}
