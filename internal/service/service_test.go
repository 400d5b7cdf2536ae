package service_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/logbuf"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/metrics"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/service"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

const dest = "stores"

// testConfig is a valid run configuration against a natstest server and the sandbox.
func testConfig(natsURL, apiBase string) *config.Config {
	cfg := config.Default()
	cfg.NATS.URL = natsURL
	cfg.TikTok.APIBase = apiBase
	cfg.TikTok.AccessToken = tiktoktest.DefaultToken
	cfg.HTTP.Listen = ""
	cfg.Log.Format = "json"
	cfg.Delivery.MaxWait = config.Duration(50 * time.Millisecond)
	cfg.Delivery.DrainTimeout = config.Duration(5 * time.Second)
	cfg.Delivery.MaxAckPending = cfg.Delivery.EffectiveMaxAckPending()
	cfg.Destinations = []config.Destination{{
		Name:           dest,
		AdvertiserID:   tiktoktest.DefaultAdvertiserID,
		EventSource:    "offline",
		EventSourceID:  tiktoktest.DefaultEventSetID,
		FixedEventName: "Purchase",
		Window:         config.Duration(config.DefaultWindow),
		PhoneRegion:    "US",
	}}
	return cfg
}

type env struct {
	t       *testing.T
	srv     *server.Server
	js      jetstream.JetStream
	sandbox *tiktoktest.Server
	cfg     *config.Config
	logs    *logbuf.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := natstest.RunServer(t)
	_, js := natstest.Connect(t, srv)
	sandbox := tiktoktest.NewServer()
	t.Cleanup(sandbox.Close)
	return &env{t: t, srv: srv, js: js, sandbox: sandbox, cfg: testConfig(srv.ClientURL(), sandbox.URL), logs: &logbuf.Buffer{}}
}

func (e *env) log() zerolog.Logger { return zerolog.New(e.logs) }

// start builds the service and runs it until the test ends; Run must return nil.
func (e *env) start() *service.Service {
	e.t.Helper()
	return e.startWith(service.Options{Version: "test"})
}

// startWith is start with opts.
func (e *env) startWith(opts service.Options) *service.Service {
	e.t.Helper()
	// Generous: New makes a dozen JetStream API calls, slow on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := service.New(ctx, e.cfg, e.log(), opts)
	if err != nil {
		e.t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	e.t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("Run returned %v after a drain", err)
			}
		case <-time.After(e.cfg.Delivery.DrainTimeout.D() + 5*time.Second):
			e.t.Error("Run did not return within the drain timeout")
		}
		s.Close()
	})
	return s
}

// publish publishes n rows with ids prefix-0 … prefix-(n-1), timestamped now.
func (e *env) publish(prefix string, n int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	subj := service.Topology(e.cfg).Names.RowsSubject(dest)
	for i := range n {
		row := fmt.Sprintf(`{"event_id":"%s-%d","timestamp":%d,"email":"customer%d@example.com","price":"9.99","quantity":1,"currency":"USD"}`,
			prefix, i, time.Now().Unix(), i)
		if _, err := e.js.Publish(ctx, subj, []byte(row)); err != nil {
			e.t.Fatal(err)
		}
	}
}

// waitFor polls cond every 20 ms until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		<-tick.C
	}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestHealthzAndReadyz(t *testing.T) {
	e := newEnv(t)
	s := e.start()
	h := s.Handler()

	if code, body := get(t, h, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
	e.publish("ok", 5)
	waitFor(t, 10*time.Second, "5 events accepted", func() bool { return e.sandbox.AcceptedCount() == 5 })
	if code, body := get(t, h, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz while delivering = %d %q, want 200", code, body)
	}

	// A revoked token pauses the destination: not ready, and the body says which
	// destination and why — without the token.
	e.sandbox.RevokeToken(tiktoktest.DefaultToken)
	e.publish("revoked", 1)
	var body string
	waitFor(t, 10*time.Second, "/readyz 503 after the token was revoked", func() bool {
		var code int
		code, body = get(t, h, "/readyz")
		return code == http.StatusServiceUnavailable
	})
	if !strings.Contains(body, "destination "+dest+" paused") || !strings.Contains(body, "token") {
		t.Errorf("/readyz body = %q, want the paused destination %q and the token named as the cause", body, dest)
	}
	if strings.Contains(body, tiktoktest.DefaultToken) {
		t.Errorf("/readyz body shows the token: %q", body)
	}
	if code, _ := get(t, h, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while paused = %d, want 200 (the process is up)", code)
	}

	// Restored: the probe succeeds, the destination resumes, the row goes out.
	e.sandbox.RestoreToken(tiktoktest.DefaultToken)
	waitFor(t, 15*time.Second, "/readyz 200 after RestoreToken", func() bool {
		code, _ := get(t, h, "/readyz")
		return code == http.StatusOK
	})
	waitFor(t, 10*time.Second, "the paused row accepted", func() bool { return e.sandbox.AcceptedCount() == 6 })
	if st := s.Worker.Stats().Total; st.DeadLetteredTotal() != 0 {
		t.Errorf("a credential pause dead-lettered %d rows", st.DeadLetteredTotal())
	}
	if strings.Contains(e.logs.String(), tiktoktest.DefaultToken) {
		t.Error("the log shows the access token")
	}
}

func TestReadyzNATSDown(t *testing.T) {
	e := newEnv(t)
	s := e.start()
	h := s.Handler()
	waitFor(t, 5*time.Second, "/readyz 200", func() bool {
		code, _ := get(t, h, "/readyz")
		return code == http.StatusOK
	})
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	var body string
	waitFor(t, 10*time.Second, "/readyz 503 with NATS down", func() bool {
		var code int
		code, body = get(t, h, "/readyz")
		return code == http.StatusServiceUnavailable
	})
	if !strings.Contains(body, "NATS is") {
		t.Errorf("/readyz body = %q, want it to say NATS is not connected", body)
	}
	if code, _ := get(t, h, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with NATS down = %d, want 200 (restarting the process does not help)", code)
	}
}

func TestMetricsAfterRowsFlow(t *testing.T) {
	e := newEnv(t)
	s := e.start()
	e.publish("m", 7)
	waitFor(t, 10*time.Second, "7 rows settled", func() bool { return s.Worker.Stats().Total.Received == 7 })
	code, body := get(t, s.Handler(), "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`tiktok_worker_rows_received_total{destination="stores"} 7`,
		`tiktok_worker_rows_sent_total{destination="stores"} 7`,
		`tiktok_worker_events_sent_total{destination="stores"} 7`,
		`tiktok_worker_request_duration_seconds_count{destination="stores"}`,
		`tiktok_worker_batch_size_events_bucket{destination="stores"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "customer") || strings.Contains(body, "example.com") {
		t.Error("/metrics carries row content")
	}
}

// TestResponsesCountEveryAnswer: tiktok_responses_total counts every HTTP answer
// TikTok gave — the retried 503 and each 40002 of the bisection around a poison
// event — exactly as the sandbox counted them, where the worker's outcomes alone
// would show one 40002 and no 503.
func TestResponsesCountEveryAnswer(t *testing.T) {
	e := newEnv(t)
	e.sandbox.FailNext(1, http.StatusServiceUnavailable)
	e.sandbox.PoisonEvent("r-7")
	s := e.startWith(service.Options{Version: "test",
		ClientOptions: []tiktokclient.Option{tiktokclient.WithInitialInterval(5 * time.Millisecond)}})
	e.publish("r", 20)
	waitFor(t, 10*time.Second, "20 rows settled", func() bool { return s.Worker.Stats().Total.Received == 20 })

	want := map[string]float64{}
	for code, n := range e.sandbox.CodeCounts() {
		want[strconv.Itoa(code)] = float64(n)
	}
	// How the 20 rows fall into requests depends on when they arrive: the poisoned
	// event may go alone (one 40002) or be bisected out of a batch (several). Either
	// way the worker's counter must equal what the sandbox answered.
	if want["503"] != 1 || want["40002"] < 1 || want["0"] < 1 {
		t.Fatalf("sandbox answered %v: want one 503, a 40002 for the poisoned event and accepted requests", want)
	}
	if got := responses(t, s, dest); !reflect.DeepEqual(got, want) {
		t.Errorf("tiktok_responses_total{destination=%q} = %v, want the sandbox's %v", dest, got, want)
	}
	if st := s.Worker.Stats().Total; st.Requests != int64(e.sandbox.Requests()) {
		t.Errorf("worker made %d requests, sandbox saw %d", st.Requests, e.sandbox.Requests())
	}
}

// responses reads tiktok_responses_total of destination from the service's registry,
// by code label.
func responses(t *testing.T, s *service.Service, destination string) map[string]float64 {
	t.Helper()
	mfs, err := s.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != metrics.Namespace+"_tiktok_responses_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["destination"] == destination {
				got[labels["code"]] = m.GetCounter().GetValue()
			}
		}
	}
	return got
}

// TestRunServesHTTP runs the service on a real listener (127.0.0.1:0) and finds the
// address in the log line that announces it.
func TestRunServesHTTP(t *testing.T) {
	e := newEnv(t)
	e.cfg.HTTP.Listen = "127.0.0.1:0"
	e.start()
	var addr string
	waitFor(t, 5*time.Second, "the serving log line", func() bool {
		addr = listenAddr(e.logs.String())
		return addr != ""
	})
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
		}
	}
}

// listenAddr returns the addr of the JSON log line that announces the HTTP listener.
func listenAddr(logs string) string {
	for _, line := range strings.Split(logs, "\n") {
		var l struct{ Addr, Message string }
		if json.Unmarshal([]byte(line), &l) == nil && strings.HasPrefix(l.Message, "serving /healthz") {
			return l.Addr
		}
	}
	return ""
}

func TestRunListenInUse(t *testing.T) {
	e := newEnv(t)
	ln := httptest.NewServer(http.NotFoundHandler())
	defer ln.Close()
	e.cfg.HTTP.Listen = strings.TrimPrefix(ln.URL, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := service.New(ctx, e.cfg, e.log(), service.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Run(ctx); err == nil || !strings.Contains(err.Error(), "http.listen") {
		t.Errorf("Run on a busy address = %v, want an error naming http.listen", err)
	}
}

func TestTokenSource(t *testing.T) {
	sandbox := tiktoktest.NewServer()
	defer sandbox.Close()
	const secretToken = "s3cret-access-token-value"
	base := config.Default().TikTok

	t.Run("static token", func(t *testing.T) {
		c := base
		c.AccessToken = secretToken
		ts, err := service.TokenSource(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ts.Token()
		if err != nil || tok.AccessToken != secretToken {
			t.Errorf("Token() = %v, %v; want the configured token", tok, err)
		}
	})

	t.Run("refresh flow when app_id is set", func(t *testing.T) {
		c := base
		c.AccessToken = secretToken // ignored: the app id chooses the refresh flow
		c.AppID = tiktoktest.DefaultAppID
		c.AppSecret = tiktoktest.DefaultAppSecret
		c.RefreshToken = tiktoktest.DefaultRefreshToken
		c.TokenURL = sandbox.URL + tiktoktest.RefreshPath
		store := &tiktokclient.MemoryTokenStore{}
		ts, err := service.TokenSource(c, store)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := ts.(*tiktokclient.RefreshTokenSource); !ok {
			t.Fatalf("TokenSource = %T, want the refresh flow", ts)
		}
		tok, err := ts.Token()
		if err != nil {
			t.Fatal(err)
		}
		if tok.AccessToken == "" || tok.AccessToken == secretToken {
			t.Errorf("access token %q: want one from the refresh exchange", tok.AccessToken)
		}
		if n := sandbox.Stats().Refreshes; n != 1 {
			t.Errorf("sandbox saw %d refreshes, want 1", n)
		}
	})

	tests := []struct {
		name string
		edit func(*config.TikTok)
		want []string
	}{
		{"no access token", func(c *config.TikTok) { c.AccessTokenEnv = "ACME_TIKTOK_TOKEN" },
			[]string{"ACME_TIKTOK_TOKEN", "tiktok.access_token_file"}},
		{"refresh flow without a secret", func(c *config.TikTok) {
			c.AppID, c.RefreshToken = "app", secretToken
		}, []string{config.DefaultAppSecretEnv, config.DefaultRefreshTokenEnv}},
		{"refresh flow without a refresh token", func(c *config.TikTok) {
			c.AppID, c.AppSecret = "app", secretToken
		}, []string{config.DefaultRefreshTokenEnv}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.edit(&c)
			_, err := service.TokenSource(c, &tiktokclient.MemoryTokenStore{})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
			if strings.Contains(err.Error(), secretToken) {
				t.Errorf("error %q shows a secret", err)
			}
		})
	}
}

func TestTopologyHonoursConfig(t *testing.T) {
	e := newEnv(t)
	e.cfg.NATS.SubjectPrefix = "acme.events"
	e.cfg.Dedup.Bucket = "ACME_RECEIPTS"
	e.cfg.Delivery.MaxAckPending = 1234
	topo := service.Topology(e.cfg)
	if topo.Names.DedupBucket != "ACME_RECEIPTS" {
		t.Errorf("dedup bucket %q, want ACME_RECEIPTS", topo.Names.DedupBucket)
	}
	if got := topo.Names.RowsSubject(dest); got != "acme.events.rows.stores" {
		t.Errorf("rows subject %q, want acme.events.rows.stores", got)
	}
	if topo.MaxAckPending != 1234 || len(topo.Destinations) != 1 || topo.Destinations[0] != dest {
		t.Errorf("topology %+v: want max_ack_pending 1234 and destination %s", topo, dest)
	}

	// New creates exactly that, and rows published under the prefix are delivered.
	e.start()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The first version's bucket is only ever read (by the upgrade), never created.
	for _, b := range []string{"ACME_RECEIPTS", broker.NamesFor("").DedupBucket} {
		if _, err := e.js.KeyValue(ctx, b); !errors.Is(err, jetstream.ErrBucketNotFound) {
			t.Errorf("dedup bucket %s: %v, want it not created", b, err)
		}
	}
	c, err := e.js.Consumer(ctx, topo.Names.RowsStream, topo.Names.ConsumerName(dest))
	if err != nil {
		t.Fatal(err)
	}
	if cc := c.CachedInfo().Config; cc.FilterSubject != "acme.events.rows.stores" || cc.MaxAckPending != 1234 {
		t.Errorf("consumer filter %q, max ack pending %d; want acme.events.rows.stores and 1234", cc.FilterSubject, cc.MaxAckPending)
	}
	e.publish("p", 3)
	waitFor(t, 10*time.Second, "3 events accepted", func() bool { return e.sandbox.AcceptedCount() == 3 })
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	e := newEnv(t)
	e.cfg.TikTok.AccessToken = ""
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := service.New(ctx, e.cfg, e.log(), service.Options{})
	if err == nil || !strings.Contains(err.Error(), config.DefaultAccessTokenEnv) {
		t.Errorf("New without a token = %v, want an error naming %s", err, config.DefaultAccessTokenEnv)
	}
}

// TestReplicasCopyWhileOriginalInFlight: a row re-published while its original is
// still unacked in the other replica may be sent by both (SPEC §5: the window is the
// request's flight plus the sent log's propagation); TikTok drops the repeat, and
// every row is accounted once. Re-published once the originals are settled, every
// copy is a duplicate, whichever replica holds it.
func TestReplicasCopyWhileOriginalInFlight(t *testing.T) {
	e := newEnv(t)
	e.sandbox.SetLatency(300 * time.Millisecond) // originals stay in flight a while
	a, b := e.start(), e.start()
	// More rows than one replica's pull buffer, so both hold originals, and the copies
	// land on either.
	const n = 2 * config.PullBuffer
	e.publish("orig", n)
	waitFor(t, 5*time.Second, "the first request in flight", func() bool { return e.sandbox.Requests() > 0 })
	e.publish("orig", n) // the same rows again, while the originals are unacked
	total := func() (recv, sent, dup int64) {
		for _, s := range []*service.Service{a, b} {
			st := s.Worker.Stats().Total
			recv, sent, dup = recv+st.Received, sent+st.Sent, dup+st.Duplicates
		}
		return
	}
	waitFor(t, 20*time.Second, "every row settled", func() bool { r, _, _ := total(); return r == 2*n })
	_, sent, dup := total()
	t.Logf("replica a received %d, b %d; %d copies sent again (TikTok dropped them)",
		a.Worker.Stats().Total.Received, b.Worker.Stats().Total.Received, e.sandbox.Stats().Deduplicated)
	if sent+dup != 2*n || sent < n {
		t.Errorf("sent %d, duplicates %d; want %d rows in all, at least %d sent", sent, dup, 2*n, n)
	}
	if got := e.sandbox.AcceptedCount(); got != n {
		t.Errorf("the sandbox accepted %d distinct events, want %d", got, n)
	}

	e.sandbox.SetLatency(0)
	e.publish("orig", n) // the originals are settled: every copy is a duplicate now
	waitFor(t, 20*time.Second, "the third round settled", func() bool { r, _, _ := total(); return r == 3*n })
	_, sent2, dup2 := total()
	if sent2 != sent || dup2 != dup+n {
		t.Errorf("third round: %d more sent, %d more duplicates; want 0 and %d", sent2-sent, dup2-dup, n)
	}
}

// TestReadyzSaysRetrying (issue 10): while TikTok answers 503 to every request for
// longer than RetryingAfter, /readyz stays 200 and says since when the destination
// retries, and the state gauge says retrying; when TikTok answers again, both say so.
func TestReadyzSaysRetrying(t *testing.T) {
	e := newEnv(t)
	e.cfg.Delivery.MaxElapsed = config.Duration(2 * time.Minute) // no pause during the test
	s := e.startWith(service.Options{Version: "test", RetryingAfter: 300 * time.Millisecond,
		ClientOptions: []tiktokclient.Option{tiktokclient.WithInitialInterval(20 * time.Millisecond)}})
	h := s.Handler()
	waitFor(t, 10*time.Second, "ready", func() bool { code, _ := get(t, h, "/readyz"); return code == http.StatusOK })
	e.sandbox.SetErrorRate(1, 3)
	e.publish("out", 10)
	var code int
	var body string
	waitFor(t, 20*time.Second, "/readyz to say retrying", func() bool {
		code, body = get(t, h, "/readyz")
		return strings.Contains(body, "retrying since")
	})
	if code != http.StatusOK || !strings.Contains(body, "destination "+dest) || !strings.Contains(body, "HTTP 503") {
		t.Errorf("/readyz = %d %q; want 200 naming the destination, since when, and HTTP 503", code, body)
	}
	if _, m := get(t, h, "/metrics"); !strings.Contains(m, `tiktok_worker_destination_state{destination="`+dest+`",state="retrying"} 1`) {
		t.Error("the state gauge does not say retrying")
	}
	e.sandbox.SetErrorRate(0, 3)
	waitFor(t, 20*time.Second, "every row settled", func() bool { return s.Worker.Stats().Total.Received == 10 })
	waitFor(t, 10*time.Second, "/readyz ready again", func() bool {
		code, body = get(t, h, "/readyz")
		return code == http.StatusOK && body == "ready\n"
	})
}

// TestFailingCheckStartsPaused (SPEC §4): a destination whose connection check fails
// (its Pixel is unknown to TikTok) starts paused before any row is published — not
// ready, with a reason naming it — pulls nothing, and leaves the other destination
// alone; once the Pixel exists, the next probe (the check again) resumes it and its
// rows flow. Run never exits over it.
func TestFailingCheckStartsPaused(t *testing.T) {
	const site, pixel = "site", "CUNKNOWNPIXEL0000001"
	e := newEnv(t)
	e.cfg.Destinations = append(e.cfg.Destinations, config.Destination{
		Name: site, AdvertiserID: tiktoktest.DefaultAdvertiserID, EventSource: "web", EventSourceID: pixel,
		Window: config.Duration(config.DefaultWindow), PhoneRegion: "US",
	})
	s := e.start()
	h := s.Handler()
	var body string
	waitFor(t, 10*time.Second, "/readyz 503 for the unknown Pixel", func() bool {
		var code int
		code, body = get(t, h, "/readyz")
		return code == http.StatusServiceUnavailable
	})
	if !strings.Contains(body, "destination "+site+" paused") || !strings.Contains(body, pixel) || strings.Contains(body, dest) {
		t.Errorf("/readyz body = %q, want only %s paused, naming its Pixel %s", body, site, pixel)
	}
	if n := e.sandbox.Requests(); n != 0 {
		t.Errorf("%d event requests before any row was published", n)
	}

	// The other destination delivers; site's rows stay in the stream, unpulled.
	e.publish("ok", 20)
	ctx := t.Context()
	names := service.Topology(e.cfg).Names
	for i := range 10 {
		row := fmt.Sprintf(`{"event":"ViewContent","event_id":"w-%d","timestamp":%d,"email":"v%d@example.org","page_url":"https://shop.example/"}`,
			i, time.Now().Unix(), i)
		if _, err := e.js.Publish(ctx, names.RowsSubject(site), []byte(row)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the offline destination's 20 events accepted", func() bool { return e.sandbox.AcceptedCount() == 20 })
	cons, err := e.js.Consumer(ctx, names.RowsStream, names.ConsumerName(site))
	if err != nil {
		t.Fatal(err)
	}
	if info, err := cons.Info(ctx); err != nil || info.NumAckPending != 0 || info.NumPending != 10 {
		t.Errorf("paused destination's consumer: %+v, %v; want 10 pending, none pulled", info, err)
	}

	// Fixed: the next probe's check passes and the rows flow.
	e.sandbox.AddPixel(tiktoktest.DefaultAdvertiserID, pixel)
	waitFor(t, 20*time.Second, "/readyz 200 after the Pixel was added", func() bool {
		code, _ := get(t, h, "/readyz")
		return code == http.StatusOK
	})
	waitFor(t, 10*time.Second, "the web rows settled", func() bool { return s.Worker.Stats().Total.Received == 30 })
	st := s.Worker.Stats().Total
	if n := e.sandbox.AcceptedCount(); n != 30 {
		t.Errorf("the sandbox accepted %d events, want 30", n)
	}
	if st.DeadLetteredTotal() != 0 || st.Sent != 30 || !st.Balanced() {
		t.Errorf("stats %+v: want 30 sent, nothing dead-lettered, balanced", st)
	}
	logs := e.logs.String()
	if n := strings.Count(logs, "destination "+site+" paused"); n != 1 {
		t.Errorf("%d log lines say %s paused, want 1 (one per state change)", n, site)
	}
	if n := strings.Count(logs, "destination "+site+" resumed"); n != 1 {
		t.Errorf("%d log lines say %s resumed, want 1", n, site)
	}
}

// The first start copies the previous version's bucket into the sent log, and the
// service is ready only after the sent log caught up on every record in it.
func TestSentLogUpgradedAndCaughtUpBeforeReady(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topo := service.Topology(e.cfg)
	if err := broker.Ensure(ctx, e.js, topo); err != nil {
		t.Fatal(err)
	}
	// What the previous version remembered (its bucket, written as it wrote it: one
	// receipt marker per event at <destination>.<base64url id>), and records of this
	// version's replicas.
	old, err := e.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: topo.Names.DedupBucket, History: 1, TTL: 168 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	oldKey := dest + "." + base64.RawURLEncoding.EncodeToString([]byte("old-1"))
	if _, err := old.Put(ctx, oldKey, fmt.Appendf(nil, `{"accepted_at":%q,"request_id":"r-old"}`, time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
		t.Fatal(err)
	}
	other, err := dedup.OpenSentLog(ctx, e.js, topo.Names, []string{dest})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for i := range 50 {
		keys := make([]dedup.Key, 100)
		for j := range keys {
			keys[j] = dedup.Key{Event: "Purchase", ID: fmt.Sprintf("s-%d-%d", i, j)}
		}
		if err := other.Append(ctx, dedup.Record{Destination: dest, AcceptedAt: time.Now(), RequestID: fmt.Sprint(i), Events: keys}); err != nil {
			t.Fatal(err)
		}
	}

	s := e.start()
	h := s.Handler()
	waitFor(t, 20*time.Second, "/readyz 200", func() bool { code, _ := get(t, h, "/readyz"); return code == http.StatusOK })
	if n, _ := s.SentLog.Remembered(); n != 50*100+1 {
		t.Errorf("ready with %d events in the index, want %d", n, 50*100+1)
	}
	out := make([]bool, 2)
	s.SentLog.Sent(dest, []dedup.Key{{Event: "Purchase", ID: "old-1"}, {Event: "Purchase", ID: "s-49-99"}}, out)
	if !out[0] || !out[1] {
		t.Errorf("Sent = %v: the upgraded receipt and the last record must be known", out)
	}
	if !strings.Contains(e.logs.String(), "copied 1 receipts of the previous version's bucket TIKTOK_DEDUP") {
		t.Errorf("the upgrade was not logged:\n%s", e.logs.String())
	}
	if _, err := old.Get(ctx, oldKey); err != nil {
		t.Errorf("the first version's bucket was not left alone: %v", err)
	}
	if st, err := e.js.Stream(ctx, topo.Names.SentStream); err != nil || st.CachedInfo().Config.MaxAge != 696*time.Hour {
		t.Errorf("sent log stream: %v; want a max age of 696h (the default window + 24h)", err)
	}
}
