package tiktokclient

import (
	"context"
	"errors"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/oauth2"
)

// DefaultAPIBase is TikTok's Business API host.
const DefaultAPIBase = "https://business-api.tiktok.com"

// Clock is the time source of retries: Now for max elapsed, Sleep for the waits
// between attempts. Tests inject one that advances instantly.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done (then it returns ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
}

// TimerClock is a Clock that also times each attempt: with one, the request timeout
// (WithRequestTimeout) runs on the clock rather than on the wall clock, so a test
// decides when an attempt times out and a slow machine cannot time one out early.
type TimerClock interface {
	Clock
	// AfterFunc calls f once d has passed on the clock; stop keeps it from being
	// called if it has not been yet.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Client is safe for concurrent use.
type Client struct {
	base           string
	ts             oauth2.TokenSource
	hc             *http.Client
	limiter        *Limiter
	maxElapsed     time.Duration
	initial        time.Duration
	maxInterval    time.Duration
	rateLimitFloor time.Duration
	checkElapsed   time.Duration
	userAgent      string
	log            zerolog.Logger
	timeout        time.Duration
	clock          Clock
	observers      []func(Response)
}

// Option configures a Client.
type Option func(*Client)

// WithBaseURL sets the API base (default DefaultAPIBase), e.g. a tiktoktest server's URL.
func WithBaseURL(base string) Option {
	return func(c *Client) { c.base = strings.TrimRight(base, "/") }
}

// WithTokenSource sets where access tokens come from: StaticToken for a long-term
// token, NewRefreshTokenSource for the OAuth refresh flow. A source that implements
// Invalidator is refreshed once when TikTok refuses its token.
func WithTokenSource(ts oauth2.TokenSource) Option { return func(c *Client) { c.ts = ts } }

// WithHTTPClient replaces the tuned default HTTP client.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithLimiter shares one process-wide limiter among all destinations' clients
// (default: a limiter of 1,000 requests/s for this client alone).
func WithLimiter(l *Limiter) Option { return func(c *Client) { c.limiter = l } }

// WithMaxElapsed bounds how long one request is retried before Send gives up
// (default 15m).
func WithMaxElapsed(d time.Duration) Option { return func(c *Client) { c.maxElapsed = d } }

// WithInitialInterval sets the first retry delay (default 500ms); the delay grows
// ×2 with ±50 % jitter up to one minute.
func WithInitialInterval(d time.Duration) Option { return func(c *Client) { c.initial = d } }

// WithRateLimitFloor sets the least delay after TikTok's rate-limit codes (default 1s,
// as TikTok sends no Retry-After). Only tests should lower it.
func WithRateLimitFloor(d time.Duration) Option {
	return func(c *Client) { c.rateLimitFloor = d }
}

// WithUserAgent sets the User-Agent (default "tiktok-events-worker/<version>").
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithLogger sets the logger (default: none). Tokens and secrets are never logged.
func WithLogger(l zerolog.Logger) Option { return func(c *Client) { c.log = l } }

// WithRequestTimeout bounds one HTTP attempt (default 30s); a timeout is retried.
func WithRequestTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithClock injects the clock retries wait on (tests: one that does not sleep). A
// TimerClock also times each attempt's request timeout.
func WithClock(clk Clock) Option { return func(c *Client) { c.clock = clk } }

// Response is one HTTP exchange with TikTok as the client saw it: every attempt,
// retries and bisection included, of Send and of Check. It carries no token and no
// body. Token exchanges of NewRefreshTokenSource are not API calls of the client
// and are not observed.
type Response struct {
	Path string // API path, e.g. TrackPath (without the query: it carries ids)
	// EventSourceID is the Request's event_source_id for Send's calls (TrackPath), so
	// an observer of a client shared by several destinations can tell them apart; ""
	// for Check's calls.
	EventSourceID string
	HTTPStatus    int           // 0 when no answer came: see Err
	Code          int           // TikTok's code in an HTTP 200 envelope; 0 when there is none (also success: see HTTPStatus and Err)
	Class         Class         // what the answer meant: ClassRetry for answers that are retried, HTTP 5xx/429 and every Err
	Events        int           // events in the request; 0 for Check's calls
	Took          time.Duration // from sending the request to reading the whole answer, by the client's Clock
	Err           error         // a network error or timeout (HTTPStatus 0), a cut-off answer, or an HTTP 200 that is not TikTok's envelope; nil otherwise
	// Attempt is 1 for a request's first attempt and n for its (n-1)th retry. Each
	// half that bisection sends, and each call of Check, is a request of its own.
	Attempt int
	// FirstAttempt is when the request's first attempt began (the client's Clock):
	// when Retry is set, or Attempt > 1, the request has been retrying since then.
	FirstAttempt time.Time
	// Retry says the client will make this request again: after RetryIn for a
	// transient failure (ClassRetry), at once for a refused token it refreshes.
	// False when the answer settles the request, or the retries reached their
	// limit (Send then returns an error wrapping ErrGaveUp), or the caller's
	// context ended.
	Retry   bool
	RetryIn time.Duration // the wait before the next attempt when Retry is set
}

// WithObserver calls fn once per HTTP exchange (see Response) as it happens: after
// the answer, once the client has decided what to do with it and before it waits to
// retry, so a retry is seen while the outage lasts, not when the request ends. It
// is called from the goroutine that called Send or Check: a Client is
// shared, so fn must be safe for concurrent use, and it should be quick. Each
// WithObserver adds one observer. Result.Requests of a Send equals the number of
// calls fn received for it.
//
// A metric of answers by code counts r.Code when r.HTTPStatus is 200 and r.Err is
// nil, r.HTTPStatus for any other status, and a network failure when HTTPStatus is 0.
func WithObserver(fn func(Response)) Option {
	return func(c *Client) {
		if fn != nil {
			c.observers = append(c.observers, fn)
		}
	}
}

// WithCheckMaxElapsed bounds how long Check retries transient failures (default 30s,
// at most max elapsed): a connection check should answer promptly.
func WithCheckMaxElapsed(d time.Duration) Option {
	return func(c *Client) { c.checkElapsed = d }
}

// New builds a Client. Without WithTokenSource it fails: every call needs a token.
func New(opts ...Option) (*Client, error) {
	c := &Client{
		base:           DefaultAPIBase,
		maxElapsed:     15 * time.Minute,
		initial:        500 * time.Millisecond,
		maxInterval:    time.Minute,
		rateLimitFloor: time.Second,
		checkElapsed:   30 * time.Second,
		userAgent:      "tiktok-events-worker/" + buildVersion(),
		log:            zerolog.Nop(),
		timeout:        30 * time.Second,
		clock:          realClock{},
	}
	for _, o := range opts {
		o(c)
	}
	if c.ts == nil {
		return nil, errors.New("tiktokclient: no token source: configure an access token (tiktok.access_token_env) or the OAuth refresh flow")
	}
	if c.base == "" {
		return nil, errors.New("tiktokclient: empty API base: set tiktok.api_base")
	}
	if c.limiter == nil {
		c.limiter = NewLimiter(1000) // a client alone is still polite; share one per process
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: NewTransport(64)}
	}
	if c.maxElapsed <= 0 || c.initial <= 0 {
		return nil, errors.New("tiktokclient: max elapsed and initial interval must be positive")
	}
	if c.maxInterval < c.initial {
		c.maxInterval = c.initial
	}
	if c.checkElapsed > c.maxElapsed {
		c.checkElapsed = c.maxElapsed
	}
	return c, nil
}

// NewTransport is the tuned transport New uses: keep-alive connections, at least
// maxConnsPerHost idle ones kept per host (size it ≥ requests in flight), bounded
// dial/TLS/header waits, and no compression (TikTok documents none).
func NewTransport(maxConnsPerHost int) *http.Transport {
	if maxConnsPerHost < 4 {
		maxConnsPerHost = 4
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4 * maxConnsPerHost,
		MaxIdleConnsPerHost:   maxConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		DisableCompression:    true,
	}
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
