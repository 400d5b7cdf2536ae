package broker_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
)

// logSink collects log lines and lets a test wait for one to appear.
type logSink struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	notify chan struct{}
}

func newLogSink() *logSink { return &logSink{notify: make(chan struct{}, 1)} }

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.buf.Write(p)
	select {
	case l.notify <- struct{}{}:
	default:
	}
	return n, err
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor blocks until the log contains s, or fails the test after d.
func (l *logSink) waitFor(t *testing.T, s string, d time.Duration) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for !strings.Contains(l.String(), s) {
		select {
		case <-l.notify:
		case <-deadline.C:
			t.Fatalf("log line %q did not appear within %s; log:\n%s", s, d, l.String())
		}
	}
}

func (l *logSink) logger() zerolog.Logger { return zerolog.New(l) }

func TestNamesFor(t *testing.T) {
	tests := []struct {
		prefix string
		want   broker.Names
	}{
		{"", broker.Names{Prefix: "tiktok", RowsStream: "TIKTOK_ROWS", DLQStream: "TIKTOK_DLQ", SentStream: "TIKTOK_SENT", DedupBucket: "TIKTOK_DEDUP", TokenBucket: "TIKTOK_TOKENS"}},
		{"tiktok", broker.Names{Prefix: "tiktok", RowsStream: "TIKTOK_ROWS", DLQStream: "TIKTOK_DLQ", SentStream: "TIKTOK_SENT", DedupBucket: "TIKTOK_DEDUP", TokenBucket: "TIKTOK_TOKENS"}},
		{"acme", broker.Names{Prefix: "acme", RowsStream: "ACME_ROWS", DLQStream: "ACME_DLQ", SentStream: "ACME_SENT", DedupBucket: "ACME_DEDUP", TokenBucket: "ACME_TOKENS"}},
		{"acme.events", broker.Names{Prefix: "acme.events", RowsStream: "ACME_EVENTS_ROWS", DLQStream: "ACME_EVENTS_DLQ", SentStream: "ACME_EVENTS_SENT", DedupBucket: "ACME_EVENTS_DEDUP", TokenBucket: "ACME_EVENTS_TOKENS"}},
		{"Team-2_x", broker.Names{Prefix: "Team-2_x", RowsStream: "TEAM-2_X_ROWS", DLQStream: "TEAM-2_X_DLQ", SentStream: "TEAM-2_X_SENT", DedupBucket: "TEAM-2_X_DEDUP", TokenBucket: "TEAM-2_X_TOKENS"}},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			if got := broker.NamesFor(tt.prefix); got != tt.want {
				t.Errorf("NamesFor(%q) = %+v, want %+v", tt.prefix, got, tt.want)
			}
		})
	}
	n := broker.NamesFor("")
	if got := n.RowsSubject("stores"); got != "tiktok.rows.stores" {
		t.Errorf("RowsSubject = %q", got)
	}
	if got := n.DLQSubject("stores"); got != "tiktok.dlq.stores" {
		t.Errorf("DLQSubject = %q", got)
	}
	if got := n.ConsumerName("stores"); got != "worker-stores" {
		t.Errorf("ConsumerName = %q", got)
	}
}

func testTopology() broker.Topology {
	return broker.Topology{
		Names:         broker.NamesFor("tiktok"),
		Replicas:      1,
		Destinations:  []string{"stores", "web"},
		MaxAckPending: 2200,
		AckWait:       45 * time.Second,
		DLQRetention:  240 * time.Hour,
		SentRetention: 480 * time.Hour,
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestEnsureConcurrentAndRepeated(t *testing.T) {
	s := natstest.RunServer(t)
	_, js := natstest.Connect(t, s)
	ctx := ctxT(t, 30*time.Second)
	topo := testTopology()

	// Four replicas starting at once.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, js := natstest.Connect(t, s)
			errs[i] = broker.Ensure(ctx, js, topo)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: Ensure: %v", i, err)
		}
	}
	// And again, twice, one after the other: nothing changes, nothing fails.
	log := newLogSink()
	topo.Log = log.logger()
	for i := 0; i < 2; i++ {
		if err := broker.Ensure(ctx, js, topo); err != nil {
			t.Fatalf("Ensure run %d: %v", i+2, err)
		}
	}
	if log.String() != "" {
		t.Errorf("a repeated Ensure changed something:\n%s", log)
	}
	assertTopology(t, ctx, js, topo)
	// A new install has no use for the first version's dedup bucket.
	if _, err := js.KeyValue(ctx, topo.Names.DedupBucket); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Errorf("dedup bucket %s on a fresh server: %v, want it not created", topo.Names.DedupBucket, err)
	}
}

func assertTopology(t *testing.T, ctx context.Context, js jetstream.JetStream, topo broker.Topology) {
	t.Helper()
	n := topo.Names
	rows := streamConfig(t, ctx, js, n.RowsStream)
	if rows.Retention != jetstream.WorkQueuePolicy || rows.Storage != jetstream.FileStorage ||
		rows.Replicas != topo.Replicas || len(rows.Subjects) != 1 || rows.Subjects[0] != "tiktok.rows.>" || rows.MaxAge != 0 {
		t.Errorf("rows stream: %+v", rows)
	}
	dlq := streamConfig(t, ctx, js, n.DLQStream)
	if dlq.Retention != jetstream.LimitsPolicy || dlq.Storage != jetstream.FileStorage ||
		dlq.MaxAge != topo.DLQRetention || !dlq.AllowDirect || dlq.DenyDelete ||
		dlq.Duplicates != 2*time.Minute || dlq.Subjects[0] != "tiktok.dlq.>" || dlq.Replicas != topo.Replicas {
		t.Errorf("DLQ stream: %+v", dlq)
	}
	sent := streamConfig(t, ctx, js, n.SentStream)
	if sent.Retention != jetstream.LimitsPolicy || sent.Storage != jetstream.FileStorage ||
		sent.Compression != jetstream.S2Compression || sent.MaxAge != topo.SentRetention ||
		!sent.AllowDirect || sent.Duplicates != 2*time.Minute || len(sent.Subjects) != 1 ||
		sent.Subjects[0] != "tiktok.sent.>" || sent.Replicas != topo.Replicas {
		t.Errorf("sent log stream: %+v", sent)
	}
	for _, d := range topo.Destinations {
		c, err := js.Consumer(ctx, n.RowsStream, n.ConsumerName(d))
		if err != nil {
			t.Fatalf("consumer for %s: %v", d, err)
		}
		cfg := c.CachedInfo().Config
		if cfg.Durable != "worker-"+d || cfg.FilterSubject != "tiktok.rows."+d || cfg.AckPolicy != jetstream.AckExplicitPolicy ||
			cfg.AckWait != topo.AckWait || cfg.MaxDeliver != -1 || cfg.MaxAckPending != topo.MaxAckPending {
			t.Errorf("consumer %s: %+v", d, cfg)
		}
	}
	tok := streamConfig(t, ctx, js, "KV_"+n.TokenBucket)
	if tok.MaxMsgsPerSubject != 1 || tok.MaxAge != 0 || tok.Replicas != topo.Replicas {
		t.Errorf("token bucket stream: %+v", tok)
	}
}

func streamConfig(t *testing.T, ctx context.Context, js jetstream.JetStream, name string) jetstream.StreamConfig {
	t.Helper()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	return s.CachedInfo().Config
}

// A rows message is removed once its destination's consumer acked it (work queue),
// and one destination's consumer never sees another's rows.
func TestEnsureRowsAreAWorkQueuePerDestination(t *testing.T) {
	s := natstest.RunServer(t)
	_, js := natstest.Connect(t, s)
	ctx := ctxT(t, 20*time.Second)
	topo := testTopology()
	if err := broker.Ensure(ctx, js, topo); err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"tiktok.rows.stores", "tiktok.rows.web", "tiktok.rows.stores"} {
		if _, err := js.Publish(ctx, subj, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := js.Consumer(ctx, topo.Names.RowsStream, "worker-stores")
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for m := range batch.Messages() {
		if m.Subject() != "tiktok.rows.stores" {
			t.Errorf("worker-stores got %s", m.Subject())
		}
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
		got++
	}
	if got != 2 {
		t.Fatalf("worker-stores fetched %d messages, want 2", got)
	}
	st, err := js.Stream(ctx, topo.Names.RowsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("rows stream holds %d messages after acking stores' two, want 1 (web's)", info.State.Msgs)
	}
}

func TestEnsureUpdatesWhatItOwns(t *testing.T) {
	s := natstest.RunServer(t)
	_, js := natstest.Connect(t, s)
	ctx := ctxT(t, 20*time.Second)
	topo := testTopology()
	n := topo.Names

	// An operator created things by hand, with other settings.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: n.DLQStream, Subjects: []string{"tiktok.dlq.>"}, MaxAge: time.Hour,
		Description: "hand-made",
	}); err != nil {
		t.Fatal(err)
	}
	// The first version's dedup bucket, which only the upgrade reads.
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: n.DedupBucket, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	oldDedup := streamConfig(t, ctx, js, "KV_"+n.DedupBucket)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: n.SentStream, Subjects: []string{"tiktok.sent.>"}, MaxAge: 48 * time.Hour, Storage: jetstream.FileStorage,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: n.RowsStream, Subjects: []string{"tiktok.rows.>"}, Retention: jetstream.WorkQueuePolicy,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateConsumer(ctx, n.RowsStream, jetstream.ConsumerConfig{
		Durable: "worker-stores", FilterSubject: "tiktok.rows.stores", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 10,
	}); err != nil {
		t.Fatal(err)
	}

	log := newLogSink()
	topo.Log = log.logger()
	if err := broker.Ensure(ctx, js, topo); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"stream TIKTOK_DLQ existed with other settings: updated max age 1h0m0s → 240h0m0s",
		"allow direct false → true",
		"stream TIKTOK_SENT existed with other settings: updated max age 48h0m0s → 480h0m0s, allow direct false → true, compression None → S2",
		"consumer worker-stores existed with other settings",
		"max ack pending 10 → 2200",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	assertTopology(t, ctx, js, topo)
	if strings.Contains(log.String(), n.DedupBucket) {
		t.Errorf("Ensure touched the first version's dedup bucket:\n%s", log)
	}
	if got := streamConfig(t, ctx, js, "KV_"+n.DedupBucket); !reflect.DeepEqual(got, oldDedup) {
		t.Errorf("Ensure changed the first version's dedup bucket:\n got %+v\nwant %+v", got, oldDedup)
	}
	// Once enabled, a second run has nothing to change or say.
	again := newLogSink()
	topo.Log = again.logger()
	if err := broker.Ensure(ctx, js, topo); err != nil {
		t.Fatal(err)
	}
	if again.String() != "" {
		t.Errorf("a repeated Ensure logged:\n%s", again)
	}
	if d := streamConfig(t, ctx, js, n.DLQStream).Description; d != "hand-made" {
		t.Errorf("Ensure replaced a setting it does not own: description %q", d)
	}
}

func TestEnsureWarnsOnWhatItCannotChange(t *testing.T) {
	s := natstest.RunServer(t)
	_, js := natstest.Connect(t, s)
	ctx := ctxT(t, 20*time.Second)
	topo := testTopology()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: topo.Names.RowsStream, Subjects: []string{"tiktok.rows.>"}, MaxMsgs: 1e6}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: topo.Names.DLQStream, Subjects: []string{"tiktok.dlq.>"}, DenyDelete: true}); err != nil {
		t.Fatal(err)
	}
	log := newLogSink()
	topo.Log = log.logger()
	if err := broker.Ensure(ctx, js, topo); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"stream TIKTOK_ROWS has retention Limits, not WorkQueue: left as is",
		"stream TIKTOK_DLQ denies message deletes: `worker dlq replay` cannot remove replayed letters",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestEnsureRejectsBadInput(t *testing.T) {
	s := natstest.RunServer(t)
	_, js := natstest.Connect(t, s)
	ctx := ctxT(t, 10*time.Second)
	tests := []struct {
		name string
		topo broker.Topology
		want string
	}{
		{"dotted destination", broker.Topology{Destinations: []string{"a.b"}}, `destination "a.b"`},
		{"wildcard destination", broker.Topology{Destinations: []string{"*"}}, `destination "*"`},
		{"empty destination", broker.Topology{Destinations: []string{""}}, `destination ""`},
		{"twice", broker.Topology{Destinations: []string{"x", "x"}}, `listed twice`},
		{"replicas on one server", broker.Topology{Replicas: 3}, "nats.replicas must be 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := broker.Ensure(ctx, js, tt.topo)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Ensure = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestConnectEmbedded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	log := newLogSink()
	ctx := ctxT(t, 20*time.Second)
	b, err := broker.Connect(ctx, config.NATS{DataDir: dir}, log.logger())
	if err != nil {
		t.Fatal(err)
	}
	if want := "no NATS URL configured: started an embedded JetStream server storing under " + dir; !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, log)
	}
	url := b.EmbeddedURL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") || !strings.Contains(log.String(), url) {
		t.Errorf("EmbeddedURL %q (not in the log?)\n%s", url, log)
	}
	if err := broker.Ensure(ctx, b.JS, testTopology()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.JS.Publish(ctx, "tiktok.rows.stores", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b.Close() // twice is fine
	if !b.NC.IsClosed() || b.Embedded.Running() {
		t.Fatal("Close left the connection or the embedded server running")
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
		t.Fatalf("no JetStream store under data_dir: %v", err)
	}

	// A restart on the same data_dir finds the row again.
	b, err = broker.Connect(ctx, config.NATS{DataDir: dir}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st, err := b.JS.Stream(ctx, "TIKTOK_ROWS")
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().State.Msgs; got != 1 {
		t.Errorf("after a restart the rows stream holds %d messages, want 1", got)
	}
}

func TestConnectLogsEventsWithoutSecrets(t *testing.T) {
	const user, password = "worker", "s3cret-Pa55"
	s := natstest.RunServerWith(t, func(o *server.Options) { o.Username, o.Password = user, password })
	url := "nats://" + user + ":" + password + "@" + s.Addr().(*net.TCPAddr).String()
	log := newLogSink()
	ctx := ctxT(t, 20*time.Second)

	// A wrong password: the error explains, without the password.
	badURL := strings.Replace(url, password, "wrong-Pa55", 1)
	_, err := broker.Connect(ctx, config.NATS{URL: badURL}, log.logger())
	if err == nil {
		t.Fatal("Connect with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), "wrong-Pa55") || !strings.Contains(err.Error(), "NATS_URL") {
		t.Errorf("error: %v", err)
	}

	b, err := broker.Connect(ctx, config.NATS{URL: url}, log.logger())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Embedded != nil || b.EmbeddedURL() != "" {
		t.Error("an embedded server was started although a URL was configured")
	}
	// Only connections that authenticated as user: the server drops the refused one
	// on its own time (it may still list it after Connect returned its error), and
	// that connection never authenticated, so it cannot be counted here by accident.
	connz, err := s.Connz(&server.ConnzOptions{Username: true, User: user})
	if err != nil {
		t.Fatal(err)
	}
	if len(connz.Conns) != 1 || connz.Conns[0].Name != broker.ConnectionName {
		t.Errorf("connections: %+v", connz.Conns)
	}

	// The server goes away and comes back on the same port.
	port, storeDir := s.Addr().(*net.TCPAddr).Port, s.StoreDir()
	s.Shutdown()
	s.WaitForShutdown()
	log.waitFor(t, "disconnected from NATS; reconnecting", 10*time.Second)
	natstest.RunServerWith(t, func(o *server.Options) {
		o.Port, o.StoreDir, o.Username, o.Password = port, storeDir, user, password
	})
	log.waitFor(t, "reconnected to NATS", 15*time.Second)
	b.Close()
	log.waitFor(t, "NATS connection closed", 5*time.Second)

	out := log.String()
	for _, ev := range []string{"disconnected from NATS", "reconnected to NATS", "NATS connection closed"} {
		if n := strings.Count(out, ev); n != 1 {
			t.Errorf("%q logged %d times, want once:\n%s", ev, n, out)
		}
	}
	if strings.Contains(out, password) || strings.Contains(out, "wrong-Pa55") {
		t.Errorf("the log carries a password:\n%s", out)
	}
}

func TestConnectNKey(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	s := natstest.RunServerWith(t, func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: pub}} })
	log := newLogSink()
	ctx := ctxT(t, 10*time.Second)

	if _, err := broker.Connect(ctx, config.NATS{URL: s.ClientURL()}, log.logger()); err == nil {
		t.Fatal("Connect without the nkey succeeded on a server that requires one")
	}
	b, err := broker.Connect(ctx, config.NATS{URL: s.ClientURL(), NKeyFile: seedFile}, log.logger())
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if strings.Contains(log.String(), string(seed)) {
		t.Error("the log carries the nkey seed")
	}

	_, err = broker.Connect(ctx, config.NATS{URL: s.ClientURL(), NKeyFile: filepath.Join(t.TempDir(), "missing.nk")}, log.logger())
	if err == nil || !strings.Contains(err.Error(), "nats.nkey_file") {
		t.Errorf("missing nkey file: %v", err)
	}
}

func TestConnectRejectsHalfATLSKeyPair(t *testing.T) {
	_, err := broker.Connect(context.Background(), config.NATS{URL: "nats://127.0.0.1:1", TLSCert: "c.pem"}, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "nats.tls_cert and nats.tls_key") {
		t.Fatalf("Connect = %v", err)
	}
}

func TestTokenStore(t *testing.T) {
	s := natstest.RunServer(t)
	_, js := natstest.Connect(t, s)
	ctx := ctxT(t, 10*time.Second)
	n := broker.NamesFor("")
	if err := broker.Ensure(ctx, js, broker.Topology{Names: n}); err != nil {
		t.Fatal(err)
	}
	a := broker.NewTokenStore(js, n.TokenBucket, "7000000000000000001")
	b := broker.NewTokenStore(js, n.TokenBucket, "app id with spaces/and.dots")

	if got, err := a.Load(ctx); err != nil || got != "" {
		t.Fatalf("Load before any Save = %q, %v; want \"\", nil", got, err)
	}
	for _, tok := range []string{"refresh-1", "refresh-2"} {
		if err := a.Save(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Save(ctx, "other-app"); err != nil {
		t.Fatal(err)
	}
	// Another replica (a new store on another connection) sees the rotated token.
	_, js2 := natstest.Connect(t, s)
	if got, err := broker.NewTokenStore(js2, n.TokenBucket, "7000000000000000001").Load(ctx); err != nil || got != "refresh-2" {
		t.Errorf("Load = %q, %v; want refresh-2", got, err)
	}
	if got, err := b.Load(ctx); err != nil || got != "other-app" {
		t.Errorf("Load of the other app = %q, %v", got, err)
	}

	// A missing bucket is an error that says what to do, without the token.
	c := broker.NewTokenStore(js, "NO_SUCH_BUCKET", "x")
	err := c.Save(ctx, "secret-refresh")
	if err == nil || strings.Contains(err.Error(), "secret-refresh") || !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Errorf("Save to a missing bucket = %v", err)
	}
}
