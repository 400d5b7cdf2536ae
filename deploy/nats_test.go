package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/logbuf"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/publish"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/service"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// roles are the users of deploy/nats/accounts.conf, by the variable that carries each
// one's public NKey.
var roles = []string{"PUBLISHER", "WORKER", "OPERATOR"}

// rolesServer is a real nats-server running deploy/nats/accounts.conf, with a fresh
// NKey per role.
type rolesServer struct {
	srv   *server.Server
	seeds map[string]string // role → seed file (what nats.nkey_file names)
}

// runRolesServer loads accounts.conf the way server.conf does (include), with the
// public keys in the environment as nats-server reads them, and starts the server.
func runRolesServer(t *testing.T) *rolesServer {
	t.Helper()
	dir := t.TempDir()
	rs := &rolesServer{seeds: map[string]string{}}
	for _, role := range roles {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := kp.PublicKey()
		seed, _ := kp.Seed()
		t.Setenv(role+"_NKEY", pub)
		rs.seeds[role] = filepath.Join(dir, strings.ToLower(role)+".nk")
		if err := os.WriteFile(rs.seeds[role], seed, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	accounts, err := os.ReadFile(filepath.Join("nats", "accounts.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts.conf"), accounts, 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "server.conf")
	body := fmt.Sprintf("listen: 127.0.0.1:-1\njetstream { store_dir: %q }\ninclude ./accounts.conf\n", filepath.Join(dir, "js"))
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	loaded, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("nats-server refuses deploy/nats/accounts.conf: %v", err)
	}
	rs.srv = natstest.RunServerWith(t, func(o *server.Options) {
		*o = *loaded
		o.NoLog, o.NoSigs = true, true
	})
	return rs
}

// violations collects the permission errors the server sends one connection.
type violations struct {
	mu   sync.Mutex
	errs []string
	got  chan struct{}
}

func (v *violations) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	v.mu.Lock()
	v.errs = append(v.errs, err.Error())
	v.mu.Unlock()
	select {
	case v.got <- struct{}{}:
	default:
	}
}

// waitFor returns once a violation mentioning subject arrived (or fails after 10 s).
func (v *violations) waitFor(t *testing.T, subject string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		v.mu.Lock()
		for _, e := range v.errs {
			if strings.Contains(e, "Permissions Violation") && strings.Contains(e, subject) {
				v.mu.Unlock()
				return
			}
		}
		all := strings.Join(v.errs, "; ")
		v.mu.Unlock()
		select {
		case <-v.got:
		case <-deadline:
			t.Fatalf("no permissions violation for %q within 10s; errors so far: %s", subject, all)
		}
	}
}

func (rs *rolesServer) connect(t *testing.T, role string, v *violations) *nats.Conn {
	t.Helper()
	opt, err := nats.NkeyOptionFromSeed(rs.seeds[role])
	if err != nil {
		t.Fatal(err)
	}
	opts := []nats.Option{opt, nats.Name("test-" + strings.ToLower(role))}
	if v != nil {
		opts = append(opts, nats.ErrorHandler(v.handler))
	}
	nc, err := nats.Connect(rs.srv.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("%s cannot connect: %v", role, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestNATSRoles runs the worker under the worker role against a real server with
// deploy/nats/accounts.conf: a publisher's rows are delivered to the sandbox and an
// invalid one is dead-lettered; the operator lists and replays the dead letter; the
// publisher is refused everything but publishing rows.
func TestNATSRoles(t *testing.T) {
	rs := runRolesServer(t)
	sandbox := tiktoktest.NewServer()
	t.Cleanup(sandbox.Close)

	// The worker, as `worker run` builds it, authenticated with its NKey seed file.
	cfg := config.Default()
	cfg.NATS.URL = rs.srv.ClientURL()
	cfg.NATS.NKeyFile = rs.seeds["WORKER"]
	cfg.TikTok.APIBase = sandbox.URL
	cfg.TikTok.AccessToken = tiktoktest.DefaultToken
	cfg.HTTP.Listen = ""
	cfg.Delivery.MaxWait = config.Duration(50 * time.Millisecond)
	cfg.Delivery.DrainTimeout = config.Duration(5 * time.Second)
	cfg.Destinations = []config.Destination{{
		Name: "stores", AdvertiserID: tiktoktest.DefaultAdvertiserID, EventSource: "offline",
		EventSourceID: tiktoktest.DefaultEventSetID, FixedEventName: "Purchase",
		Window: config.Duration(config.DefaultWindow), PhoneRegion: "US",
	}}
	logs := &logbuf.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	svc, err := service.New(ctx, cfg, zerolog.New(logs), service.Options{Version: "test"})
	if err != nil {
		t.Fatalf("the worker cannot start under the worker role: %v\nlogs: %s", err, logs)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("worker Run: %v", err)
		}
		svc.Close()
		if strings.Contains(logs.String(), "Permissions Violation") || strings.Contains(logs.String(), "permissions violation") {
			t.Errorf("the worker was refused something under the worker role:\n%s", logs)
		}
	})
	names := broker.NamesFor("")

	// The publisher publishes rows, as `worker publish` does (it checks the stream exists
	// first), in its own account.
	pubViolations := &violations{got: make(chan struct{}, 1)}
	pub := rs.connect(t, "PUBLISHER", pubViolations)
	pubJS, err := jetstream.New(pub)
	if err != nil {
		t.Fatal(err)
	}
	const valid = 20
	var bodies [][]byte
	now := time.Now().Add(-time.Hour).Unix()
	for i := range valid {
		bodies = append(bodies, fmt.Appendf(nil, `{"event_id":"roles-%d","timestamp":%d,"email":"buyer%d@example.com","price":"9.99","quantity":1,"currency":"USD"}`, i, now, i))
	}
	bodies = append(bodies, []byte(`{"event_id":"roles-bad","timestamp":"not a time"}`))
	sum, err := publish.Rows(ctx, pubJS, names.RowsSubject("stores"), bodies)
	if err != nil || sum.Published != len(bodies) {
		t.Fatalf("the publisher could not publish rows: %+v, %v", sum, err)
	}

	waitUntil(t, time.Minute, "every valid event accepted by the sandbox", func() bool { return sandbox.AcceptedCount() == valid })

	// The operator reads the dead letter and replays it (republish + delete).
	op := rs.connect(t, "OPERATOR", nil)
	opJS, err := jetstream.New(op)
	if err != nil {
		t.Fatal(err)
	}
	var letters []dlq.Entry
	waitUntil(t, time.Minute, "the invalid row in the DLQ, listed by the operator", func() bool {
		letters, err = dlq.List(ctx, opJS, names, dlq.Filter{})
		return err == nil && len(letters) == 1
	})
	if err != nil {
		t.Fatalf("operator dlq ls: %v", err)
	}
	rep, err := dlq.Replay(ctx, opJS, names, dlq.Filter{}, false)
	if err != nil {
		t.Fatalf("operator dlq replay: %v (%+v)", err, rep)
	}
	t.Logf("operator replay: %+v", rep)

	// What the publisher may not do: read dead letters or the sent log, in any way,
	// write to either, or act on the worker's consumers.
	denied := []struct {
		what    string
		subject string
		do      func(ctx context.Context) error
	}{
		{"read the DLQ stream's info", "$JS.API.STREAM.INFO." + names.DLQStream, func(ctx context.Context) error {
			_, err := pubJS.Stream(ctx, names.DLQStream)
			return err
		}},
		{"read a dead letter (direct get)", "$JS.API.DIRECT.GET." + names.DLQStream, func(ctx context.Context) error {
			_, err := pub.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+names.DLQStream, []byte(`{"seq":1}`))
			return err
		}},
		{"read a dead letter (message get)", "$JS.API.STREAM.MSG.GET." + names.DLQStream, func(ctx context.Context) error {
			_, err := pub.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+names.DLQStream, []byte(`{"seq":1}`))
			return err
		}},
		{"consume the DLQ", "$JS.API.CONSUMER.CREATE." + names.DLQStream, func(ctx context.Context) error {
			_, err := pubJS.CreateConsumer(ctx, names.DLQStream, jetstream.ConsumerConfig{})
			return err
		}},
		{"subscribe to dead letters", names.DLQFilter(), func(context.Context) error {
			_, err := pub.SubscribeSync(names.DLQFilter())
			return errors.Join(err, pub.Flush())
		}},
		{"read the sent log (direct get)", "$JS.API.DIRECT.GET.TIKTOK_SENT", func(ctx context.Context) error {
			_, err := pub.RequestWithContext(ctx, "$JS.API.DIRECT.GET.TIKTOK_SENT", []byte(`{"seq":1}`))
			return err
		}},
		{"read the sent log's info", "$JS.API.STREAM.INFO.TIKTOK_SENT", func(ctx context.Context) error {
			_, err := pubJS.Stream(ctx, "TIKTOK_SENT")
			return err
		}},
		{"subscribe to the sent log", "tiktok.sent.>", func(context.Context) error {
			_, err := pub.SubscribeSync("tiktok.sent.>")
			return errors.Join(err, pub.Flush())
		}},
		{"forge a sent-log record", "tiktok.sent.stores", func(context.Context) error {
			return errors.Join(pub.Publish("tiktok.sent.stores", []byte(`{}`)), pub.Flush())
		}},
		{"forge a dead letter", "tiktok.dlq.stores", func(context.Context) error {
			return errors.Join(pub.Publish("tiktok.dlq.stores", []byte(`{}`)), pub.Flush())
		}},
		{"delete a row", "$JS.API.STREAM.MSG.DELETE." + names.RowsStream, func(ctx context.Context) error {
			_, err := pub.RequestWithContext(ctx, "$JS.API.STREAM.MSG.DELETE."+names.RowsStream, []byte(`{"seq":1}`))
			return err
		}},
		{"pull from the worker's consumer", "$JS.API.CONSUMER.MSG.NEXT." + names.RowsStream, func(ctx context.Context) error {
			_, err := pub.RequestWithContext(ctx, "$JS.API.CONSUMER.MSG.NEXT."+names.RowsStream+".worker-stores", []byte(`{"batch":1}`))
			return err
		}},
	}
	for _, d := range denied {
		t.Run("publisher may not "+d.what, func(t *testing.T) {
			// The refusal is the server's violation, which waitFor waits for; a refused
			// request gets no answer, so the call itself only ends at this deadline.
			rctx, rcancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer rcancel()
			_ = d.do(rctx)
			pubViolations.waitFor(t, d.subject)
		})
	}

	// The publisher's _INBOX.> is its own account's: a DLQ read by the operator stays
	// invisible to it.
	snoop, err := pub.SubscribeSync("_INBOX.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := dlq.List(ctx, opJS, names, dlq.Filter{}); err != nil {
		t.Fatalf("operator dlq ls: %v", err)
	}
	if err := op.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, err := snoop.NextMsg(200 * time.Millisecond); err == nil {
		t.Errorf("the publisher saw a reply meant for the operator on %s", m.Subject)
	}

	// And the worker may not read the DLQ back (only write it).
	wViolations := &violations{got: make(chan struct{}, 1)}
	w := rs.connect(t, "WORKER", wViolations)
	wctx, wcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer wcancel()
	_, _ = w.RequestWithContext(wctx, "$JS.API.DIRECT.GET."+names.DLQStream, []byte(`{"seq":1}`))
	wViolations.waitFor(t, "$JS.API.DIRECT.GET."+names.DLQStream)
}

// waitUntil polls cond (state held by another process or goroutine) until it holds.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		<-tick.C
	}
}
