package metrics_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/metrics"
)

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

func TestHandlerServesEveryCollector(t *testing.T) {
	m := metrics.New()
	d := m.Destination("stores")
	d.Settled(10, 7, 2)
	d.DeadLettered("invalid_row", 1)
	d.EventsSent(7)
	d.Request(7, 120*time.Millisecond, 2)
	d.Retry()
	d.MatchKeysKnown([]string{"email", "phone"})
	d.MatchKey("email", 6)
	d.PublishToAccept(1500 * time.Millisecond)
	d.OldestPending(90 * time.Second)
	d.State("retrying", []string{"running", "retrying", "paused"})
	d.TikTokAnswer(200, 0, false)
	d.TikTokAnswer(200, 40002, false)
	d.TikTokAnswer(200, 40002, false)
	d.TikTokAnswer(200, 12345, false)
	d.TikTokAnswer(503, 0, false)
	d.TikTokAnswer(0, 0, true)
	d.HandedBack(3)
	d.Pending(42, 5)
	d.Paused(true)

	out := scrape(t, m)
	for _, want := range []string{
		`tiktok_worker_rows_received_total{destination="stores"} 10`,
		`tiktok_worker_rows_sent_total{destination="stores"} 7`,
		`tiktok_worker_rows_duplicate_total{destination="stores"} 2`,
		`tiktok_worker_rows_dead_lettered_total{destination="stores",reason="invalid_row"} 1`,
		`tiktok_worker_events_sent_total{destination="stores"} 7`,
		`tiktok_worker_requests_total{destination="stores"} 2`,
		`tiktok_worker_retries_total{destination="stores"} 1`,
		`tiktok_worker_tiktok_responses_total{code="0",destination="stores"} 1`,
		`tiktok_worker_tiktok_responses_total{code="40002",destination="stores"} 2`,
		`tiktok_worker_tiktok_responses_total{code="other",destination="stores"} 1`,
		`tiktok_worker_tiktok_responses_total{code="503",destination="stores"} 1`,
		`tiktok_worker_tiktok_responses_total{code="network",destination="stores"} 1`,
		`tiktok_worker_messages_handed_back_total{destination="stores"} 3`,
		`tiktok_worker_consumer_pending{destination="stores"} 42`,
		`tiktok_worker_consumer_ack_pending{destination="stores"} 5`,
		`tiktok_worker_destination_paused{destination="stores"} 1`,
		`tiktok_worker_batch_size_events_bucket{destination="stores",le="10"} 1`,
		`tiktok_worker_request_duration_seconds_count{destination="stores"} 1`,
		`tiktok_worker_match_key_events_total{destination="stores",key="email"} 6`,
		`tiktok_worker_match_key_events_total{destination="stores",key="phone"} 0`,
		`tiktok_worker_publish_to_accept_seconds_bucket{destination="stores",le="2.5"} 1`,
		`tiktok_worker_oldest_pending_seconds{destination="stores"} 90`,
		`tiktok_worker_destination_state{destination="stores",state="retrying"} 1`,
		`tiktok_worker_destination_state{destination="stores",state="running"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

// TestNamesFollowConventions runs Prometheus' own linter over every metric family.
func TestNamesFollowConventions(t *testing.T) {
	m := metrics.New()
	d := m.Destination("web")
	d.Settled(1, 1, 0)
	d.DeadLettered("rejected", 1)
	d.Request(1, time.Millisecond, 1)
	d.Retry()
	d.MatchKeysKnown([]string{"email"})
	d.PublishToAccept(time.Second)
	d.OldestPending(time.Second)
	d.State("running", []string{"running", "paused"})
	d.TikTokAnswer(200, 0, false)
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// TestRegistriesAreIndependent: two Metrics never share a series (no global state).
func TestRegistriesAreIndependent(t *testing.T) {
	a, b := metrics.New(), metrics.New()
	a.Destination("x").Settled(5, 5, 0)
	b.Destination("x")
	if out := scrape(t, b); strings.Contains(out, `tiktok_worker_rows_received_total{destination="x"} 5`) {
		t.Fatal("second registry sees the first one's counter")
	}
}

func TestNilIsANoOp(t *testing.T) {
	var m *metrics.Metrics
	d := m.Destination("x")
	d.Settled(1, 1, 0)
	d.DeadLettered("rejected", 1)
	d.EventsSent(1)
	d.Request(1, time.Second, 1)
	d.TikTokAnswer(200, 0, false)
	d.HandedBack(1)
	d.Pending(1, 1)
	d.Paused(true)
	d.Retry()
	d.MatchKeysKnown([]string{"email"})
	d.MatchKey("email", 1)
	d.PublishToAccept(time.Second)
	d.OldestPending(time.Second)
	d.State("running", []string{"running"})
}

func TestCodeLabel(t *testing.T) {
	for _, tc := range []struct {
		code int
		want string
	}{
		{0, "0"}, {20001, "20001"}, {40002, "40002"}, {40105, "40105"}, {51003, "51xxx"},
		{52001, "52xxx"}, {-1, "gave_up"}, {12345, "other"}, {40999, "other"},
	} {
		if got := metrics.CodeLabel(tc.code); got != tc.want {
			t.Errorf("CodeLabel(%d) = %q, want %q", tc.code, got, tc.want)
		}
	}
}

func TestAnswerLabel(t *testing.T) {
	for _, tc := range []struct {
		name         string
		status, code int
		failed       bool
		want         string
	}{
		{"success", 200, 0, false, "0"},
		{"TikTok code", 200, 40002, false, "40002"},
		{"code family", 200, 51003, false, "51xxx"},
		{"unknown code", 200, 12345, false, "other"},
		{"HTTP status", 503, 0, false, "503"},
		{"HTTP status ignores the code", 429, 40002, false, "429"},
		{"200 that is not TikTok's envelope", 200, 0, true, "200"},
		{"no answer", 0, 0, true, "network"},
		{"impossible status", 999, 0, false, "other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := metrics.AnswerLabel(tc.status, tc.code, tc.failed); got != tc.want {
				t.Errorf("AnswerLabel(%d, %d, %v) = %q, want %q", tc.status, tc.code, tc.failed, got, tc.want)
			}
		})
	}
}
