package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/metrics"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
)

// Sender delivers one request to TikTok; *tiktokclient.Client is one. Its error
// contract is tiktokclient.Client.Send's: a *tiktokclient.CredentialError, an error
// wrapping tiktokclient.ErrGaveUp, or the context's error, with the affected events
// Unsettled.
type Sender interface {
	Send(ctx context.Context, req tiktokclient.Request) (tiktokclient.Result, error)
}

// Checker is the connection check of one destination (SPEC §4), by name: the token
// works, the advertiser is reachable, the event source exists. The service wires it
// to tiktokclient.Client.Check.
type Checker interface {
	Check(ctx context.Context, dest string) error
}

// CheckerFunc adapts a function to Checker.
type CheckerFunc func(ctx context.Context, dest string) error

// Check implements Checker.
func (f CheckerFunc) Check(ctx context.Context, dest string) error { return f(ctx, dest) }

// Deps are the parts a Worker runs on. All but Metrics and Checker are required;
// Clock defaults to time.Now and is the clock of the window rules, sent-log records
// and dead letters.
//
// Dedup is the sent log: the worker asks it which events were sent (a local lookup)
// and appends one record per request TikTok accepts.
//
// With a Checker, each destination runs the connection check before it pulls
// anything: a failing check starts it paused (Ready says why) and it is checked
// again with the probe's backoff until it passes.
type Deps struct {
	JS      jetstream.JetStream
	Names   broker.Names
	Dedup   dedup.Store
	DLQ     dlq.Publisher
	Client  Sender
	Log     zerolog.Logger
	Metrics *metrics.Metrics
	Clock   func() time.Time
	Checker Checker
}

// Destination is one TikTok destination: its consumer (by Name) and its transform.
type Destination struct {
	Name          string
	Events        events.Config
	TestEventCode string // top-level test_event_code; "" falls back to Events.TestEventCode
}

// Options tune delivery. Zero values take the defaults of SPEC §6.
type Options struct {
	Destinations []Destination
	BatchSize    int           // events per request, at most 1,000 (default 1,000)
	MaxWait      time.Duration // a partial batch leaves after this long (default 1s)
	InFlight     int           // requests in flight per destination (default 4)
	// MaxElapsed is the client's retry budget (the caller configures the client with
	// it). The worker bounds each Send by it, with a margin, so that a client that
	// ignores it cannot hold messages forever.
	MaxElapsed   time.Duration // default 15m
	MaxDeliver   int           // deliveries before retries_exhausted (default 50)
	AckWait      time.Duration // the consumer's AckWait; keep-alives go every AckWait/3 (default 60s)
	DrainTimeout time.Duration // Run returns within this after ctx is cancelled (default 30s)
	// PullBuffer is how many messages the puller keeps fetched ahead (default
	// BatchSize). A replica holds about PullBuffer + (InFlight+1) × BatchSize
	// messages at most (acks in transit aside); size the consumer's max_ack_pending
	// for that times the replicas.
	PullBuffer int
	// ProbeMin and ProbeMax bound the backoff between probes of a paused destination
	// (defaults 1s and 5m). NAKed messages are delayed by the current backoff.
	ProbeMin, ProbeMax time.Duration
	PendingInterval    time.Duration // how often consumer_pending is refreshed (default 5s)
	// RetryingAfter is how long a destination's requests may be retried without an
	// answer that settles one before it logs so and its state becomes Retrying
	// (default 30s). It stays ready; max_elapsed later it pauses.
	RetryingAfter time.Duration
}

func (o *Options) defaults() error {
	if len(o.Destinations) == 0 {
		return errors.New("worker: no destinations configured (add one under destinations)")
	}
	if o.BatchSize <= 0 {
		o.BatchSize = events.MaxEventsPerRequest
	}
	if o.BatchSize > events.MaxEventsPerRequest {
		return fmt.Errorf("worker: batch_size %d: TikTok takes at most %d events per request", o.BatchSize, events.MaxEventsPerRequest)
	}
	setD := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	setI := func(i *int, v int) {
		if *i <= 0 {
			*i = v
		}
	}
	setD(&o.MaxWait, time.Second)
	setI(&o.InFlight, 4)
	setD(&o.MaxElapsed, 15*time.Minute)
	setI(&o.MaxDeliver, 50)
	setD(&o.AckWait, 60*time.Second)
	setD(&o.DrainTimeout, 30*time.Second)
	setI(&o.PullBuffer, o.BatchSize)
	setD(&o.ProbeMin, time.Second)
	setD(&o.ProbeMax, 5*time.Minute)
	setD(&o.PendingInterval, 5*time.Second)
	setD(&o.RetryingAfter, 30*time.Second)
	if o.ProbeMax < o.ProbeMin {
		o.ProbeMax = o.ProbeMin
	}
	seen := map[string]bool{}
	for _, d := range o.Destinations {
		if d.Name == "" {
			return errors.New("worker: a destination has no name")
		}
		if seen[d.Name] {
			return fmt.Errorf("worker: destination %q is configured twice", d.Name)
		}
		seen[d.Name] = true
	}
	return nil
}

// Worker consumes every destination's rows and delivers them to TikTok. One Worker is
// one replica; any number of them may share the consumers.
type Worker struct {
	deps  Deps
	opts  Options
	pipes []*pipeline

	mu      sync.Mutex
	running bool
}

// New checks deps and opts and builds the pipelines; nothing touches the network
// until Run.
func New(deps Deps, opts Options) (*Worker, error) {
	switch {
	case deps.JS == nil:
		return nil, errors.New("worker: no JetStream connection")
	case deps.Dedup == nil:
		return nil, errors.New("worker: no dedup store")
	case deps.DLQ == nil:
		return nil, errors.New("worker: no dead-letter publisher")
	case deps.Client == nil:
		return nil, errors.New("worker: no TikTok client")
	case deps.Names.RowsStream == "":
		return nil, errors.New("worker: topology names are empty; use broker.NamesFor")
	}
	if deps.Clock == nil {
		deps.Clock = time.Now
	}
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	w := &Worker{deps: deps, opts: opts}
	for _, d := range opts.Destinations {
		p, err := newPipeline(w, d)
		if err != nil {
			return nil, fmt.Errorf("worker: destination %s: %w", d.Name, err)
		}
		w.pipes = append(w.pipes, p)
	}
	return w, nil
}

// Run delivers every destination's rows until ctx is cancelled, then drains: it stops
// pulling, lets requests in flight finish, hands back (NAK) what is left, and returns
// within Options.DrainTimeout. A destination whose consumer cannot be found (NATS
// down, topology missing) is reported not ready and looked up again with backoff; it
// does not stop the others. Run returns nil after a drain.
func (w *Worker) Run(ctx context.Context) error {
	w.mu.Lock()
	if w.running {
		w.mu.Unlock()
		return errors.New("worker: Run called twice")
	}
	w.running = true
	w.mu.Unlock()

	errs := make([]error, len(w.pipes))
	var wg sync.WaitGroup
	for i, p := range w.pipes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.run(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Ready reports whether every destination is delivering. notes say, for each
// destination that is not simply running, why: paused (not ready, with the reason),
// waiting for its consumer (not ready), or retrying since when (still ready). No
// secrets, no PII.
func (w *Worker) Ready() (ready bool, notes []string) {
	ready = true
	for _, p := range w.pipes {
		st, _, reason := p.status.get()
		switch {
		case st == Paused, st == Starting && reason != "":
			ready = false
			notes = append(notes, reason)
		case st == Retrying:
			notes = append(notes, "destination "+p.name+" "+reason)
		}
	}
	return ready, notes
}

// Observe takes one HTTP exchange of the TikTok client (wire it with
// tiktokclient.WithObserver): retries are counted as they happen, and a destination
// whose requests are retried for Options.RetryingAfter says so (log, state, Ready).
// Exchanges are matched to destinations by event_source_id; Check's carry none.
func (w *Worker) Observe(r tiktokclient.Response) {
	if r.EventSourceID == "" {
		return
	}
	now := time.Now()
	for _, p := range w.pipes {
		if p.reqTemplate.EventSourceID == r.EventSourceID && p.retry.observe(r, now) {
			p.met.Retry()
		}
	}
}

// Stats returns the counters of every destination and their total.
func (w *Worker) Stats() Stats {
	s := Stats{Total: DestinationStats{Name: "total", State: Running, DeadLettered: map[string]int64{}, MatchKeys: map[string]int64{}}}
	for _, p := range w.pipes {
		d := p.stats.snapshot(p.name)
		st, _, reason := p.status.get()
		d.State = st
		if st == Paused {
			d.Paused, d.PauseReason = true, reason
		}
		s.Destinations = append(s.Destinations, d)
		s.Total.Add(d)
	}
	return s
}
