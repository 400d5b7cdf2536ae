package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/logbuf"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/metrics"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/worker"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// now is the injected clock of every test: rows carry timestamps relative to it.
var now = time.Date(2025, 11, 24, 12, 0, 0, 0, time.UTC)

const (
	offline = "stores"
	web     = "site"
)

// env is one test's world: a real JetStream server with the worker's topology, the
// TikTok stand-in, a client for it, and a log buffer.
type env struct {
	t      testing.TB
	srv    *server.Server
	dir    string
	nc     *nats.Conn
	js     jetstream.JetStream
	names  broker.Names
	tt     *tiktoktest.Server
	client *tiktokclient.Client
	clock  atomic.Pointer[time.Time]
	logs   *logbuf.Buffer
	dests  []worker.Destination

	maxElapsed time.Duration
	ackWait    time.Duration

	store *dedup.SentLog // the test's own reader and writer of the sent log (each worker opens its own)

	mu        sync.Mutex
	published int // rows
	observers []*worker.Worker
}

type envOption func(*env)

func withMaxElapsed(d time.Duration) envOption { return func(e *env) { e.maxElapsed = d } }
func withAckWait(d time.Duration) envOption    { return func(e *env) { e.ackWait = d } }
func withStoreDir(dir string) envOption        { return func(e *env) { e.dir = dir } }

// withDest adds a destination to the topology and the worker's options.
func withDest(d worker.Destination) envOption {
	return func(e *env) { e.dests = append(e.dests, d) }
}

func newEnv(t testing.TB, ttOpts []tiktoktest.Option, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, names: broker.NamesFor("tiktok"), logs: &logbuf.Buffer{}, maxElapsed: 2 * time.Second, ackWait: 5 * time.Second}
	e.dests = []worker.Destination{
		{Name: offline, Events: events.Config{EventSource: events.SourceOffline, EventSourceID: tiktoktest.DefaultEventSetID, FixedEventName: "Purchase"}},
		{Name: web, Events: events.Config{EventSource: events.SourceWeb, EventSourceID: tiktoktest.DefaultPixelCode}},
	}
	for _, o := range opts {
		o(e)
	}
	e.clock.Store(&now)
	if e.dir == "" {
		e.dir = t.TempDir()
	}
	e.srv = natstest.RunServerIn(t, e.dir)
	e.nc, e.js = natstest.Connect(t, e.srv)
	e.tt = tiktoktest.NewServer(ttOpts...)
	t.Cleanup(e.tt.Close)
	e.client = e.newClient()
	var names []string
	for _, d := range e.dests {
		names = append(names, d.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := broker.Ensure(ctx, e.js, broker.Topology{
		Names: e.names, Destinations: names, MaxAckPending: 20000, AckWait: e.ackWait,
	}); err != nil {
		t.Fatalf("ensure topology: %v", err)
	}
	e.store = e.openSentLog()
	return e
}

// openSentLog opens the sent log for dests (default: the env's destinations), as a
// replica does, and waits until it has read what is there.
func (e *env) openSentLog(dests ...string) *dedup.SentLog {
	e.t.Helper()
	names := dests
	if len(names) == 0 {
		for _, d := range e.dests {
			names = append(names, d.Name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := dedup.OpenSentLog(ctx, e.js, e.names, names)
	if err != nil {
		e.t.Fatalf("open the sent log: %v", err)
	}
	e.t.Cleanup(l.Close)
	if err := l.WaitCaughtUp(ctx); err != nil {
		e.t.Fatalf("sent log catch-up: %v", err)
	}
	return l
}

func (e *env) newClient() *tiktokclient.Client {
	c, err := tiktokclient.New(
		tiktokclient.WithBaseURL(e.tt.URL),
		tiktokclient.WithTokenSource(tiktokclient.StaticToken(tiktoktest.DefaultToken)),
		tiktokclient.WithMaxElapsed(e.maxElapsed),
		tiktokclient.WithInitialInterval(20*time.Millisecond),
		tiktokclient.WithRateLimitFloor(20*time.Millisecond),
		tiktokclient.WithLimiter(tiktokclient.NewLimiter(100000)),
		tiktokclient.WithLogger(zerolog.New(e.logs).With().Str("component", "tiktokclient").Logger()),
		tiktokclient.WithObserver(e.observe),
	)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// observe hands the client's exchanges to every worker of the env, as the service
// wires a worker's Observe (the replicas of a test share one client).
func (e *env) observe(r tiktokclient.Response) {
	e.mu.Lock()
	ws := e.observers
	e.mu.Unlock()
	for _, w := range ws {
		w.Observe(r)
	}
}

func (e *env) now() time.Time { return *e.clock.Load() }

func (e *env) setNow(t time.Time) { e.clock.Store(&t) }

// options are the test defaults: small waits so tests are quick.
func (e *env) options() worker.Options {
	return worker.Options{
		Destinations: e.dests,
		BatchSize:    1000,
		MaxWait:      50 * time.Millisecond,
		InFlight:     4,
		MaxElapsed:   e.maxElapsed,
		MaxDeliver:   50,
		AckWait:      e.ackWait,
		DrainTimeout: 5 * time.Second,
		ProbeMin:     50 * time.Millisecond,
		ProbeMax:     200 * time.Millisecond,
	}
}

func (e *env) deps(name string) worker.Deps {
	return worker.Deps{
		JS:      e.js,
		Names:   e.names,
		Dedup:   e.openSentLog(), // each replica its own index of the shared log
		DLQ:     dlq.NewPublisher(e.js, e.names),
		Client:  e.client,
		Log:     zerolog.New(e.logs).With().Str("replica", name).Logger(),
		Metrics: metrics.New(),
		Clock:   e.now,
	}
}

func (e *env) newWorker(name string, o worker.Options) *worker.Worker {
	e.t.Helper()
	w, err := worker.New(e.deps(name), o)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.register(w, nil)
}

// register makes w observe the env's client (as the service wires Worker.Observe).
func (e *env) register(w *worker.Worker, err error) *worker.Worker {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	e.observers = append(e.observers, w)
	e.mu.Unlock()
	return w
}

// running is a Worker started by start.
type running struct {
	w      *worker.Worker
	cancel context.CancelFunc
	done   chan error
}

func (e *env) start(w *worker.Worker) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{w: w, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- w.Run(ctx) }()
	e.t.Cleanup(func() { r.stop(e.t) })
	return r
}

// stop cancels the worker (SIGTERM) and returns how long Run took to return.
func (r *running) stop(t testing.TB) time.Duration {
	start := time.Now()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("Run: %v", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return 30s after cancel")
	}
	return time.Since(start)
}

// publish sends one message holding rows (one object when there is one row, else an
// array) and counts the rows.
func (e *env) publish(dest string, rows ...map[string]any) {
	e.t.Helper()
	var body []byte
	var err error
	if len(rows) == 1 {
		body, err = json.Marshal(rows[0])
	} else {
		body, err = json.Marshal(rows)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	e.publishRaw(dest, body, len(rows))
}

func (e *env) publishRaw(dest string, body []byte, rows int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.js.Publish(ctx, e.names.RowsSubject(dest), body); err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	e.published += rows
	e.mu.Unlock()
}

func (e *env) publishedRows() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return int64(e.published)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// total sums the received rows of several workers.
func total(ws ...*worker.Worker) worker.DestinationStats {
	t := worker.DestinationStats{DeadLettered: map[string]int64{}}
	for _, w := range ws {
		s := w.Stats().Total
		t.Received += s.Received
		t.Sent += s.Sent
		t.SentEvents += s.SentEvents
		t.Duplicates += s.Duplicates
		t.Messages += s.Messages
		t.HandedBack += s.HandedBack
		t.Requests += s.Requests
		for k, v := range s.DeadLettered {
			t.DeadLettered[k] += v
		}
	}
	return t
}

// waitSettled waits until the workers together settled every published row.
func (e *env) waitSettled(d time.Duration, ws ...*worker.Worker) worker.DestinationStats {
	e.t.Helper()
	var s worker.DestinationStats
	waitFor(e.t, fmt.Sprintf("%d rows settled", e.publishedRows()), d, func() bool {
		s = total(ws...)
		return s.Received >= e.publishedRows()
	})
	return s
}

// checkAccounting asserts rows published = sent + duplicates + dead-lettered, that the
// stand-in accepted exactly the events the workers report, and that the DLQ stream
// holds exactly the dead-lettered rows.
func (e *env) checkAccounting(ws ...*worker.Worker) worker.DestinationStats {
	e.t.Helper()
	s := total(ws...)
	if s.Received != e.publishedRows() {
		e.t.Errorf("received %d rows, published %d", s.Received, e.publishedRows())
	}
	if got := s.Sent + s.Duplicates + s.DeadLetteredTotal(); got != s.Received {
		e.t.Errorf("sent %d + duplicates %d + dead-lettered %d = %d, received %d",
			s.Sent, s.Duplicates, s.DeadLetteredTotal(), got, s.Received)
	}
	for _, w := range ws {
		for _, d := range w.Stats().Destinations {
			if !d.Balanced() {
				e.t.Errorf("destination %s does not balance: %+v", d.Name, d)
			}
		}
	}
	if got := e.tt.AcceptedCount(); int64(got) != s.SentEvents {
		e.t.Errorf("stand-in accepted %d events, workers report %d", got, s.SentEvents)
	}
	if n := e.dlqCount(); n != s.DeadLetteredTotal() {
		e.t.Errorf("DLQ stream holds %d letters, workers report %d dead-lettered", n, s.DeadLetteredTotal())
	}
	return s
}

func (e *env) dlqCount() int64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, e.names.DLQStream)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return int64(info.State.Msgs)
}

// letters returns every dead letter, oldest first.
func (e *env) letters() []dlq.Entry {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	es, err := dlq.List(ctx, e.js, e.names, dlq.Filter{})
	if err != nil {
		e.t.Fatal(err)
	}
	return es
}

// rowsInStream is how many messages the rows stream still holds (a work queue: acked
// messages are gone).
func (e *env) rowsInStream() uint64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, e.names.RowsStream)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return info.State.Msgs
}

// acceptedIDs counts accepted events by event_id.
func (e *env) acceptedIDs() map[string]int {
	m := map[string]int{}
	for _, a := range e.tt.Accepted() {
		m[a.EventID]++
	}
	return m
}

func newWorkerWith(d worker.Deps, o worker.Options) (*worker.Worker, error) { return worker.New(d, o) }
