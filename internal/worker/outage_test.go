package worker_test

import (
	"fmt"
	"io"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/metrics"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/worker"
)

// scrape reads m's /metrics.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sample is the value of one series in a scrape (-1 when absent).
func sample(body, series string) float64 {
	re := regexp.MustCompile("(?m)^" + regexp.QuoteMeta(series) + ` (\S+)$`)
	sm := re.FindStringSubmatch(body)
	if sm == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(sm[1], 64)
	return v
}

// TestOutageShowsRetryingWhileItLasts (issue 10): TikTok answers 503 to everything.
// Within the (lowered) RetryingAfter the destination logs once that it is retrying,
// with the status and no PII; its state gauge says retrying; Ready stays true and
// says "retrying since"; retries are counted while they happen. When TikTok answers
// again it is back to running, and every row is delivered (nothing dead-lettered,
// no pause: max_elapsed is far off).
func TestOutageShowsRetryingWhileItLasts(t *testing.T) {
	e := newEnv(t, nil, withMaxElapsed(2*time.Minute))
	d := e.deps("a")
	m := metrics.New()
	d.Metrics = m
	o := e.options()
	o.RetryingAfter = 300 * time.Millisecond
	w := e.register(newWorkerWith(d, o))
	e.start(w)
	e.publishMany(offline, "before", 20)
	e.waitSettled(10*time.Second, w)
	if got := sample(scrape(t, m), `tiktok_worker_destination_state{destination="stores",state="running"}`); got != 1 {
		t.Errorf("state gauge running = %v before the outage, want 1", got)
	}

	e.tt.SetErrorRate(1, 7) // every request: HTTP 503
	e.publishMany(offline, "during", 30)
	var notes []string
	waitFor(t, "Ready to say retrying", 20*time.Second, func() bool {
		var ok bool
		ok, notes = w.Ready()
		return ok && len(notes) == 1 && strings.Contains(notes[0], "retrying since")
	})
	if !strings.Contains(notes[0], "destination "+offline) || !strings.Contains(notes[0], "HTTP 503") {
		t.Errorf("Ready note %q: want the destination, retrying since, and HTTP 503", notes[0])
	}
	body := scrape(t, m)
	for series, want := range map[string]float64{
		`tiktok_worker_destination_state{destination="stores",state="retrying"}`: 1,
		`tiktok_worker_destination_state{destination="stores",state="running"}`:  0,
		`tiktok_worker_destination_state{destination="stores",state="paused"}`:   0,
		`tiktok_worker_destination_paused{destination="stores"}`:                 0,
	} {
		if got := sample(body, series); got != want {
			t.Errorf("%s = %v while retrying, want %v", series, got, want)
		}
	}
	if got := sample(body, `tiktok_worker_retries_total{destination="stores"}`); got < 1 {
		t.Errorf("retries_total = %v while the outage lasts, want the retries counted as they happen", got)
	}
	if got := sample(body, `tiktok_worker_oldest_pending_seconds{destination="stores"}`); got <= 0 {
		t.Errorf("oldest_pending_seconds = %v with rows held, want their age", got)
	}
	if st := w.Stats().Destinations[0].State; st.String() != "retrying" {
		t.Errorf("Stats state %s, want retrying", st)
	}

	e.tt.SetErrorRate(0, 7)
	e.waitSettled(30*time.Second, w)
	waitFor(t, "back to running", 10*time.Second, func() bool {
		ok, notes := w.Ready()
		return ok && len(notes) == 0
	})
	body = scrape(t, m)
	if got := sample(body, `tiktok_worker_destination_state{destination="stores",state="running"}`); got != 1 {
		t.Errorf("state gauge running = %v after the outage, want 1", got)
	}
	s := e.checkAccounting(w)
	e.noRepeats()
	if s.Sent != 50 || s.DeadLetteredTotal() != 0 {
		t.Errorf("sent %d, dead-lettered %v; want all 50 sent", s.Sent, s.DeadLettered)
	}
	logs := e.logs.String()
	if n := countLines(logs, "destination "+offline+" has been retrying"); n != 1 {
		t.Errorf("%d log lines say the destination is retrying, want exactly 1", n)
	}
	if n := countLines(logs, "destination "+offline+": TikTok answers again"); n != 1 {
		t.Errorf("%d log lines say TikTok answers again, want 1", n)
	}
	if strings.Contains(logs, "paused") {
		t.Error("the destination paused during an outage shorter than max_elapsed")
	}
}

// TestMatchKeyCounters (issue 10): after a known run, /metrics counts the accepted
// events carrying each match key, next to events_sent_total, and Stats agree.
func TestMatchKeyCounters(t *testing.T) {
	e := newEnv(t, nil)
	d := e.deps("a")
	m := metrics.New()
	d.Metrics = m
	w := e.register(newWorkerWith(d, e.options()))
	for i := range 60 {
		e.publish(offline, row(fmt.Sprintf("k-%d", i), i)) // e-mail and phone
	}
	for i := range 40 {
		r := row(fmt.Sprintf("k-e-%d", i), i)
		delete(r, "phone")
		e.publish(offline, r) // e-mail only
	}
	for i := range 30 {
		e.publish(web, webRow(fmt.Sprintf("k-w-%d", i), i)) // e-mail, external_id, ip, user agent
	}
	e.start(w)
	e.waitSettled(15*time.Second, w)
	e.checkAccounting(w)
	body := scrape(t, m)
	want := map[string]map[string]float64{
		offline: {"email": 100, "phone": 60},
		web:     {"email": 30, "external_id": 30, "ip": 30, "user_agent": 30},
	}
	if keys := strings.Join(worker.MatchKeyNames(), ","); !strings.Contains(keys, "email,phone,external_id") || !strings.Contains(keys, "zip_code") {
		t.Errorf("match keys %s: want pkg/events's, the advanced keys included", keys)
	}
	stats := w.Stats()
	for i, dest := range []string{offline, web} {
		var events float64
		for _, k := range want[dest] {
			events = max(events, k)
		}
		if got := sample(body, fmt.Sprintf(`tiktok_worker_events_sent_total{destination=%q}`, dest)); got != events {
			t.Errorf("%s: events_sent_total = %v, want %v", dest, got, events)
		}
		for _, key := range worker.MatchKeyNames() {
			series := fmt.Sprintf(`tiktok_worker_match_key_events_total{destination=%q,key=%q}`, dest, key)
			if got := sample(body, series); got != want[dest][key] {
				t.Errorf("%s = %v, want %v", series, got, want[dest][key])
			}
			if got := stats.Destinations[i].MatchKeys[key]; float64(got) != want[dest][key] {
				t.Errorf("Stats %s MatchKeys[%s] = %d, want %v", dest, key, got, want[dest][key])
			}
		}
	}
}
