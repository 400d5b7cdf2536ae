// Package service assembles the worker from its configuration: the NATS connection
// (or an embedded server) and topology, the dedup store, the dead-letter publisher,
// the TikTok client and its credentials, the Worker, and the HTTP endpoints
// (/healthz, /readyz, /metrics). `worker run`, `worker demo` and `worker validate`
// build through it, so the wiring exists once.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"golang.org/x/oauth2"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/metrics"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/worker"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
)

// NewLogger returns the process logger: zerolog JSON, or the console format when
// format is "console", or "auto" and w is a terminal.
func NewLogger(c config.Log, w io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(strings.ToLower(c.Level))
	if err != nil || c.Level == "" {
		level = zerolog.InfoLevel
	}
	console := c.Format == "console"
	if c.Format == "" || c.Format == "auto" {
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			console = true
		}
	}
	if console {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}

// TokenSource returns the TikTok credentials of c: the refresh flow when an app id is
// configured (its rotated refresh token kept in store, so that every replica and the
// next restart use the newest one), otherwise the static long-term access token.
func TokenSource(c config.TikTok, store tiktokclient.TokenStore) (oauth2.TokenSource, error) {
	if c.AppID != "" {
		if c.AppSecret == "" || c.RefreshToken == "" {
			return nil, fmt.Errorf("tiktok.app_id is set, so the refresh flow needs the app secret (env %s) and a refresh token (env %s)", c.AppSecretEnv, c.RefreshTokenEnv)
		}
		return tiktokclient.NewRefreshTokenSource(tiktokclient.RefreshConfig{
			AppID:        c.AppID,
			Secret:       c.AppSecret,
			RefreshToken: c.RefreshToken,
			TokenURL:     tokenURL(c),
			Store:        store,
		}), nil
	}
	if c.AccessToken == "" {
		return nil, fmt.Errorf("no TikTok access token: set the environment variable %s (tiktok.access_token_env) or tiktok.access_token_file", c.AccessTokenEnv)
	}
	return tiktokclient.StaticToken(c.AccessToken), nil
}

// tokenURL is the refresh endpoint: tiktok.token_url, or the one under api_base (so a
// sandbox or a proxy serves both).
func tokenURL(c config.TikTok) string {
	if c.TokenURL != "" {
		return c.TokenURL
	}
	base := c.APIBase
	if base == "" {
		base = tiktokclient.DefaultAPIBase
	}
	return strings.TrimRight(base, "/") + tiktokclient.RefreshPath
}

// NewClient builds the TikTok client of cfg: its credentials (TokenSource, rotated
// refresh tokens kept in store), API base, request timeout, retry budget
// (delivery.max_elapsed), a transport sized for every destination's in-flight
// requests, and a User-Agent naming version. opts come last and win: run passes the
// process-wide limiter, validate a shorter check budget, the demo a faster backoff.
// Without WithLimiter the client gets its own limiter at tiktok.rate_limit.
func NewClient(cfg *config.Config, store tiktokclient.TokenStore, log zerolog.Logger, version string, opts ...tiktokclient.Option) (*tiktokclient.Client, error) {
	ts, err := TokenSource(cfg.TikTok, store)
	if err != nil {
		return nil, err
	}
	base := cfg.TikTok.APIBase
	if base == "" {
		base = tiktokclient.DefaultAPIBase
	}
	o := []tiktokclient.Option{
		tiktokclient.WithBaseURL(base),
		tiktokclient.WithTokenSource(ts),
		tiktokclient.WithLimiter(tiktokclient.NewLimiter(cfg.TikTok.RateLimit)),
		tiktokclient.WithUserAgent("tiktok-events-worker/" + version),
		tiktokclient.WithHTTPClient(&http.Client{Transport: tiktokclient.NewTransport(max(cfg.Delivery.InFlight*len(cfg.Destinations), 8))}),
		tiktokclient.WithLogger(log),
	}
	if d := cfg.Delivery.MaxElapsed.D(); d > 0 {
		o = append(o, tiktokclient.WithMaxElapsed(d))
	}
	if d := cfg.TikTok.RequestTimeout.D(); d > 0 {
		o = append(o, tiktokclient.WithRequestTimeout(d))
	}
	return tiktokclient.New(append(o, opts...)...)
}

// Topology is the broker topology cfg asks for.
func Topology(cfg *config.Config) broker.Topology {
	names := broker.NamesFor(cfg.NATS.SubjectPrefix)
	names.DedupBucket = cfg.Dedup.Bucket
	t := broker.Topology{
		Names:         names,
		Replicas:      cfg.NATS.Replicas,
		MaxAckPending: cfg.Delivery.EffectiveMaxAckPending(),
		AckWait:       cfg.Delivery.AckWait.D(),
		SentRetention: cfg.EffectiveRetention(),
		DLQRetention:  cfg.DLQ.Retention.D(),
	}
	for _, d := range cfg.Destinations {
		t.Destinations = append(t.Destinations, d.Name)
	}
	return t
}

// WorkerOptions maps the delivery settings and destinations of cfg to the Worker's.
func WorkerOptions(cfg *config.Config) worker.Options {
	o := worker.Options{
		BatchSize:    cfg.Delivery.BatchSize,
		MaxWait:      cfg.Delivery.MaxWait.D(),
		InFlight:     cfg.Delivery.InFlight,
		MaxElapsed:   cfg.Delivery.MaxElapsed.D(),
		MaxDeliver:   cfg.Delivery.MaxDeliver,
		AckWait:      cfg.Delivery.AckWait.D(),
		DrainTimeout: cfg.Delivery.DrainTimeout.D(),
		// The derived max_ack_pending counts config.PullBuffer messages per replica:
		// the puller must keep no more than that, or replicas hold more between them
		// than the consumer lets out and one starves the others.
		PullBuffer: config.PullBuffer,
	}
	for _, d := range cfg.Destinations {
		o.Destinations = append(o.Destinations, worker.Destination{
			Name: d.Name,
			Events: events.Config{
				EventSource:    d.EventSource,
				EventSourceID:  d.EventSourceID,
				FixedEventName: d.FixedEventName,
				Window:         d.Window.D(),
				PhoneRegion:    d.PhoneRegion,
				LimitedDataUse: d.LimitedDataUse,
				TestEventCode:  d.TestEventCode,
			},
			TestEventCode: d.TestEventCode,
		})
	}
	return o
}

// Options change how a Service is built; tests and the demo use them.
type Options struct {
	Version string
	Clock   func() time.Time      // the clock of the window rules (default time.Now)
	Limiter *tiktokclient.Limiter // share one limiter between replicas in one process
	Broker  *broker.Broker        // use this connection instead of connecting
	Client  worker.Sender         // use this sender instead of building a client
	Metrics *metrics.Metrics      // share a registry (default: a new one)
	// RetryingAfter overrides how long requests retry before a destination reports
	// Retrying (worker.Options.RetryingAfter; tests lower it).
	RetryingAfter time.Duration
	// ClientOptions are passed to NewClient after the configured ones (they win).
	ClientOptions []tiktokclient.Option
}

// Service is one worker replica, assembled.
type Service struct {
	Config  *config.Config
	Broker  *broker.Broker
	Worker  *worker.Worker
	Metrics *metrics.Metrics
	Client  *tiktokclient.Client // nil when Options.Client was given
	// SentLog is the dedup store of the sent log design (issue 8), opened for the
	// configured destinations; Run starts the worker only once it has caught up. The
	// worker still uses the first version's marker store until it moves over.
	SentLog *dedup.SentLog
	log     zerolog.Logger
	ownConn bool
}

// New connects (unless opts.Broker is given), creates the topology if missing, and
// builds the Worker. It checks no TikTok connection: Run does that per destination
// (when the client is built here, not given in Options.Client) before pulling, and
// starts a destination paused where its check fails, rather than crash-looping.
func New(ctx context.Context, cfg *config.Config, log zerolog.Logger, opts Options) (*Service, error) {
	if err := cfg.CheckRun(); err != nil {
		return nil, err
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	s := &Service{Config: cfg, Broker: opts.Broker, Metrics: opts.Metrics, log: log}
	if s.Metrics == nil {
		s.Metrics = metrics.New()
	}
	if s.Broker == nil {
		b, err := broker.Connect(ctx, cfg.NATS, log)
		if err != nil {
			return nil, err
		}
		s.Broker, s.ownConn = b, true
	}
	fail := func(err error) (*Service, error) {
		s.Close()
		return nil, err
	}
	topo := Topology(cfg)
	if err := broker.Ensure(ctx, s.Broker.JS, topo); err != nil {
		return fail(fmt.Errorf("creating the NATS streams, consumers and buckets: %w", err))
	}
	if err := s.openSentLog(ctx, topo); err != nil {
		return fail(err)
	}
	// The client's exchanges reach the worker once it exists (before any request).
	var observed atomic.Pointer[worker.Worker]
	sender := opts.Client
	if sender == nil {
		store := broker.NewTokenStore(s.Broker.JS, topo.Names.TokenBucket, cfg.TikTok.AppID)
		copts := opts.ClientOptions
		if opts.Limiter != nil {
			copts = append([]tiktokclient.Option{tiktokclient.WithLimiter(opts.Limiter)}, copts...)
		}
		copts = append(copts[:len(copts):len(copts)], tiktokclient.WithObserver(countAnswers(cfg.Destinations, s.Metrics)),
			tiktokclient.WithObserver(func(r tiktokclient.Response) {
				if w := observed.Load(); w != nil {
					w.Observe(r)
				}
			}))
		c, err := NewClient(cfg, store, log, opts.Version, copts...)
		if err != nil {
			return fail(err)
		}
		s.Client, sender = c, c
	}
	deps := worker.Deps{
		JS:      s.Broker.JS,
		Names:   topo.Names,
		Dedup:   s.SentLog,
		DLQ:     dlq.NewPublisher(s.Broker.JS, topo.Names),
		Client:  sender,
		Log:     log,
		Metrics: s.Metrics,
		Clock:   opts.Clock,
	}
	if s.Client != nil {
		// Each destination checks its connection before it pulls, and starts paused
		// (probed with backoff) where the check fails: run never crash-loops on it.
		targets := make(map[string]tiktokclient.Target, len(cfg.Destinations))
		for _, d := range cfg.Destinations {
			targets[d.Name] = Target(d)
		}
		client := s.Client
		deps.Checker = worker.CheckerFunc(func(ctx context.Context, dest string) error {
			t, ok := targets[dest]
			if !ok {
				return fmt.Errorf("destination %s is not configured", dest)
			}
			return client.Check(ctx, t)
		})
	}
	wo := WorkerOptions(cfg)
	wo.RetryingAfter = opts.RetryingAfter
	w, err := worker.New(deps, wo)
	if err != nil {
		return fail(err)
	}
	s.Worker = w
	observed.Store(w)
	return s, nil
}

// countAnswers returns the client observer behind tiktok_responses_total: every HTTP
// answer TikTok gave (retries and bisection included), counted for the destination
// whose event_source_id the request carried, by metrics.AnswerLabel. The client is
// shared by every destination, so the event source id is the only way to tell them
// apart. Check's calls carry none and are not counted: they deliver no events.
func countAnswers(dests []config.Destination, m *metrics.Metrics) func(tiktokclient.Response) {
	byID := make(map[string]*metrics.Destination, len(dests))
	for _, d := range dests {
		// Two destinations sending to one event_source_id make requests TikTok's
		// answers cannot tell apart: they are all counted under the first of them.
		if _, seen := byID[d.EventSourceID]; !seen && d.EventSourceID != "" {
			byID[d.EventSourceID] = m.Destination(d.Name)
		}
	}
	return func(r tiktokclient.Response) {
		if d := byID[r.EventSourceID]; d != nil {
			d.TikTokAnswer(r.HTTPStatus, r.Code, r.Err != nil)
		}
	}
}

// openSentLog copies the previous version's dedup bucket into the sent log if that was
// not done yet, then opens the log for the configured destinations. It does not wait
// for the catch-up: Run does, while /readyz says how far it is.
func (s *Service) openSentLog(ctx context.Context, topo broker.Topology) error {
	if _, err := dedup.UpgradeFromBucket(ctx, s.Broker.JS, topo.Names, topo.Names.DedupBucket, s.log); err != nil {
		return err
	}
	l, err := dedup.OpenSentLog(ctx, s.Broker.JS, topo.Names, topo.Destinations,
		dedup.SentRetention(topo.SentRetention), dedup.SentLogger(s.log))
	if err != nil {
		return err
	}
	s.SentLog = l
	return nil
}

// Close stops following the sent log and closes the connection when the Service
// opened it.
func (s *Service) Close() {
	if s.SentLog != nil {
		s.SentLog.Close()
	}
	if s.ownConn && s.Broker != nil {
		s.Broker.Close()
	}
}

// Handler serves /healthz (the process is up), /readyz (NATS connected and no
// destination paused, 200, or 503; the body says why not, and names a destination
// retrying since when while staying 200) and /metrics.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		var reasons []string
		if st := s.Broker.NC.Status(); st != nats.CONNECTED {
			reasons = append(reasons, "NATS is "+strings.ToLower(st.String()))
		}
		if ok, why := s.SentLog.Ready(); !ok {
			reasons = append(reasons, why)
		}
		ok, notes := s.Worker.Ready()
		if !ok || len(reasons) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "not ready: "+strings.Join(append(reasons, notes...), "; ")+"\n")
			return
		}
		if len(notes) > 0 {
			// Retrying destinations: still ready (TikTok drops nothing; rows wait).
			_, _ = io.WriteString(w, "ready; "+strings.Join(notes, "; ")+"\n")
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mux.Handle("/metrics", s.Metrics.Handler())
	return mux
}

// CheckDestinations runs the TikTok connection check of every destination and
// returns one error per failing destination (nil entries for those that pass). Run
// already checks each destination before it pulls; this is for validate-style use.
func (s *Service) CheckDestinations(ctx context.Context) []error {
	errs := make([]error, len(s.Config.Destinations))
	if s.Client == nil {
		return errs
	}
	for i, d := range s.Config.Destinations {
		errs[i] = s.Client.Check(ctx, Target(d))
	}
	return errs
}

// Target is the connection-check target of a destination. auto_tracking is a
// setting of offline event sets only; on a web destination it is ignored (config
// warns about it).
func Target(d config.Destination) tiktokclient.Target {
	return tiktokclient.Target{AdvertiserID: d.AdvertiserID, EventSource: d.EventSource, EventSourceID: d.EventSourceID,
		AutoTracking: d.AutoTracking && d.EventSource == "offline"}
}

// Run serves HTTP on cfg.HTTP.Listen (when set), waits until the sent log has caught
// up (/readyz says how far it is meanwhile), and runs the worker until ctx is
// cancelled, then drains.
func (s *Service) Run(ctx context.Context) error {
	var srv *http.Server
	if addr := s.Config.HTTP.Listen; addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("http.listen %s: %w (choose a free address, or set it to \"\" to disable)", addr, err)
		}
		srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		s.log.Info().Str("addr", ln.Addr().String()).Msg("serving /healthz, /readyz and /metrics")
	}
	// The worker must never send before the index holds everything sent before.
	err := s.SentLog.WaitCaughtUp(ctx)
	if err == nil {
		err = s.Worker.Run(ctx)
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}
