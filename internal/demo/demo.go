// Package demo runs the whole pipeline on one machine with nothing installed: an
// embedded JetStream server, the sandbox TikTok API, sample rows with every kind of
// problem, and two worker replicas in one process. It is `worker demo` and `make demo`,
// and the test of the assembled service.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/publish"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/sampledata"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/service"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/worker"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// Destination is the demo's one destination: an offline event set of the sandbox's
// default advertiser.
const Destination = "stores"

// Options tune a demo run.
type Options struct {
	Mix      sampledata.Mix // default sampledata.DefaultMix
	DataDir  string         // the embedded server's store (required; a temp dir)
	Replicas int            // worker replicas in this process (default 2)
	Burst    int            // sandbox answers HTTP 503 to this many requests first (default 5)
	Timeout  time.Duration  // give up after this long (default 60s)
	Log      zerolog.Logger // the workers' log (default: discarded)
	Version  string
	Now      func() time.Time
	Seed     uint64
	Verbose  bool
}

// Report is what the demo saw: the workers' total counters and the sandbox's.
type Report struct {
	Published       int // rows published
	Messages        int
	Total           worker.DestinationStats
	SandboxAccepted int // events the sandbox recorded as accepted
	SandboxRequests int
	SandboxCodes    map[int]int
	DLQMessages     uint64 // messages in the dead-letter stream
	Elapsed         time.Duration
}

// Balanced reports whether every row is accounted for, by the workers and by the
// two outside witnesses (the sandbox's accepted count and the DLQ stream).
func (r Report) Balanced() bool {
	return r.Total.Balanced() && int(r.Total.Received) == r.Published &&
		r.Total.SentEvents == int64(r.SandboxAccepted) &&
		uint64(r.Total.DeadLetteredTotal()) == r.DLQMessages
}

// Run runs the demo and returns its report; the error says what did not add up.
func Run(ctx context.Context, o Options) (Report, error) {
	if o.Mix == (sampledata.Mix{}) {
		o.Mix = sampledata.DefaultMix
	}
	if o.Replicas <= 0 {
		o.Replicas = 2
	}
	if o.Burst == 0 {
		o.Burst = 5
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.DataDir == "" {
		return Report{}, errors.New("demo: no data directory")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	sandbox := tiktoktest.NewServer()
	defer sandbox.Close()
	sandbox.PoisonEvent(sampledata.PoisonEventID)
	sandbox.FailNext(o.Burst, 503)

	cfg := config.Default()
	cfg.NATS.DataDir = o.DataDir
	cfg.TikTok.APIBase = sandbox.URL
	cfg.TikTok.AccessToken = tiktoktest.DefaultToken
	cfg.HTTP.Listen = ""
	cfg.Delivery.MaxWait = config.Duration(100 * time.Millisecond)
	cfg.Delivery.Replicas = o.Replicas
	cfg.Delivery.MaxAckPending = cfg.Delivery.EffectiveMaxAckPending()
	cfg.Destinations = []config.Destination{{
		Name:           Destination,
		AdvertiserID:   tiktoktest.DefaultAdvertiserID,
		EventSource:    "offline",
		EventSourceID:  tiktoktest.DefaultEventSetID,
		FixedEventName: "Purchase",
		Window:         config.Duration(config.DefaultWindow),
		PhoneRegion:    "US",
	}}

	first, err := broker.Connect(ctx, cfg.NATS, o.Log)
	if err != nil {
		return Report{}, err
	}
	defer first.Close()

	limiter := tiktokclient.NewLimiter(cfg.TikTok.RateLimit)
	var replicas []*service.Service
	for i := 0; i < o.Replicas; i++ {
		b := first
		if i > 0 {
			// Each replica has its own connection, as separate processes would.
			nc, err := nats.Connect(first.EmbeddedURL(), nats.Name(fmt.Sprintf("demo-replica-%d", i+1)))
			if err != nil {
				return Report{}, err
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return Report{}, err
			}
			b = &broker.Broker{NC: nc, JS: js}
		}
		s, err := service.New(ctx, cfg, o.Log.With().Int("replica", i+1).Logger(), service.Options{
			Version: o.Version, Clock: o.Now, Broker: b, Limiter: limiter,
			// The sandbox's 503 burst is retried from 50 ms rather than 1 s, so the demo
			// ends in seconds; TikTok's own limit codes still back off from 1 s.
			ClientOptions: []tiktokclient.Option{tiktokclient.WithInitialInterval(50 * time.Millisecond)},
		})
		if err != nil {
			return Report{}, err
		}
		defer s.Close()
		replicas = append(replicas, s)
	}

	// The re-publishes come last (sampledata.Generate appends them) and go out only
	// once every original is settled, the way a retried upstream job re-sends rows
	// long after the originals. Published together, a copy can reach one replica
	// while its original is still unacked in the other (the whole demo fits in the
	// consumer's max_ack_pending), and the dedup store, written when TikTok accepts
	// an event, cannot know it yet: the copy would be sent again (TikTok drops it) and
	// counted as sent, not as a duplicate.
	msgs := sampledata.Generate(o.Mix, o.Now(), o.Seed)
	copies := max(len(msgs)-originalMessages(o.Mix), 0)
	originals, repeats := msgs[:len(msgs)-copies], msgs[len(msgs)-copies:]
	names := service.Topology(cfg).Names
	subject := names.RowsSubject(Destination)

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, len(replicas))
	for _, s := range replicas {
		go func() { done <- s.Worker.Run(runCtx) }()
	}
	total := func() worker.DestinationStats {
		t := worker.DestinationStats{DeadLettered: map[string]int64{}}
		for _, s := range replicas {
			t.Add(s.Worker.Stats().Total)
		}
		return t
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	// settle publishes bodies and waits until the workers settled every row so far.
	var published, messages int
	settle := func(bodies [][]byte, what string) error {
		if len(bodies) == 0 {
			return nil
		}
		sum, err := publish.Rows(ctx, first.JS, subject, bodies)
		published += sum.PublishedRows
		messages += sum.Published
		if err != nil {
			return fmt.Errorf("publishing the %s: %w", what, err)
		}
		for total().Received < int64(published) {
			select {
			case <-ctx.Done():
				return fmt.Errorf("demo: only %d of %d rows settled before the %s timeout", total().Received, published, o.Timeout)
			case <-tick.C:
			}
		}
		return nil
	}
	waitErr := settle(originals, "sample rows")
	if waitErr == nil {
		waitErr = settle(repeats, "re-published rows")
	}
	stop()
	for range replicas {
		if err := <-done; err != nil && waitErr == nil {
			waitErr = err
		}
	}

	rep := Report{
		Published:       published,
		Messages:        messages,
		Total:           total(),
		SandboxAccepted: sandbox.AcceptedCount(),
		SandboxRequests: sandbox.Requests(),
		SandboxCodes:    sandbox.CodeCounts(),
		Elapsed:         time.Since(start),
	}
	infoCtx, cancelInfo := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelInfo()
	if st, err := first.JS.Stream(infoCtx, names.DLQStream); err == nil {
		rep.DLQMessages = st.CachedInfo().State.Msgs
	}
	if waitErr != nil {
		return rep, waitErr
	}
	if !rep.Balanced() {
		return rep, errors.New("demo: the numbers do not add up (see the summary)")
	}
	return rep, nil
}

// Print writes the summary table.
func (r Report) Print(w io.Writer) {
	t := r.Total
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	line := func(label string, n any) { fmt.Fprintf(tw, "%s\t%v\t\n", label, n) }
	fmt.Fprintf(w, "\ntiktok-events-worker demo — destination %q, %d messages\n\n", Destination, r.Messages)
	line("rows published", r.Published)
	line("rows received", t.Received)
	line("  sent", t.Sent)
	line("  duplicate", t.Duplicates)
	line("  dead-lettered", t.DeadLetteredTotal())
	for _, reason := range slices.Sorted(maps.Keys(t.DeadLettered)) {
		if n := t.DeadLettered[reason]; n > 0 {
			line("    "+reason, n)
		}
	}
	line("events accepted by the sandbox", r.SandboxAccepted)
	line("messages in the DLQ stream", r.DLQMessages)
	line("requests to TikTok", t.Requests)
	line("  retries", t.Retries)
	line("  full 1,000-event batches", t.FullBatches)
	line("elapsed", r.Elapsed.Round(time.Millisecond))
	if t.SentEvents > 0 {
		// Coverage of each match key the accepted events carried (the others: none).
		line("events carrying", "")
		for _, k := range events.MatchKeyNames() {
			if n := t.MatchKeys[k]; n > 0 {
				line("  "+k, fmt.Sprintf("%.1f%%", 100*float64(n)/float64(t.SentEvents)))
			}
		}
	}
	_ = tw.Flush()
	check := "✓ received = sent + duplicate + dead-lettered; sandbox and DLQ agree"
	if !r.Balanced() {
		check = "✗ the numbers do not add up"
	}
	fmt.Fprintf(w, "\n%s\n", check)
	fmt.Fprintln(w, TimingNote)
}

// TimingNote says which of the demo's figures change from run to run.
const TimingNote = "(Row counts are the same on every run; requests, retries and full batches vary with timing:\n" +
	"when each replica fetches, when max_wait cuts a partial batch, which request meets the 503s.)"

// originalMessages is how many messages sampledata.Generate makes before the
// re-published copies it appends: one per row, one per order of line items.
func originalMessages(m sampledata.Mix) int {
	n := m.Good + m.LineItems + m.Invalid + m.Old + m.Future + m.Malformed
	if m.Poison {
		n++
	}
	return n
}
