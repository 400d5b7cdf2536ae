package broker

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
)

// ConnectionName is how the worker's connections appear in the server's monitoring.
const ConnectionName = "tiktok-events-worker"

// DefaultDataDir is where the embedded server stores its data when cfg.DataDir is empty.
const DefaultDataDir = "./data"

// Reconnect pacing: a fixed wait plus jitter, so that many replicas that lost the same
// server do not all come back in the same millisecond.
const (
	reconnectWait      = 2 * time.Second
	reconnectJitter    = 500 * time.Millisecond
	reconnectJitterTLS = 2 * time.Second
	// publishAsyncTimeout bounds how long an async publish (a dead letter, a published
	// row) may wait for its ack, so a lost ack is an error instead of a hang.
	publishAsyncTimeout = 30 * time.Second
	// drainTimeout bounds Close.
	drainTimeout = 10 * time.Second
)

// Ping pacing. A connection cut off by a partition stays open — no bytes pass, no
// error comes — so only the client's pings notice it: with nats.go's defaults (a
// ping every 2 minutes, 2 outstanding) a replica would look connected for up to 6
// minutes. These notice it within StaleAfter(DefaultPingInterval,
// DefaultMaxPingsOut) = 40 s: the connection is then declared stale, the replica
// reconnects (readiness goes false meanwhile) and says so in the log.
const (
	DefaultPingInterval = 10 * time.Second
	DefaultMaxPingsOut  = 3
)

// StaleAfter is the longest a cut-off connection goes unnoticed with a ping every
// interval and at most maxPingsOut unanswered: the last pong may come just before
// the cut, then maxPingsOut pings go unanswered and the next tick declares the
// connection stale.
func StaleAfter(interval time.Duration, maxPingsOut int) time.Duration {
	return time.Duration(maxPingsOut+1) * interval
}

// Option changes how Connect connects.
type Option func(*connSettings)

type connSettings struct {
	pingInterval time.Duration
	maxPingsOut  int
}

// WithPing sets the ping interval and the pings left unanswered before the
// connection counts as stale (default DefaultPingInterval, DefaultMaxPingsOut).
// Tests shorten it to see a partition in moments.
func WithPing(interval time.Duration, maxPingsOut int) Option {
	return func(c *connSettings) {
		if interval > 0 && maxPingsOut > 0 {
			c.pingInterval, c.maxPingsOut = interval, maxPingsOut
		}
	}
}

// Broker is a live NATS connection with JetStream, and the embedded server when one
// was started.
type Broker struct {
	NC *nats.Conn
	JS jetstream.JetStream

	// Embedded is the in-process JetStream server started because no URL was
	// configured, nil otherwise.
	Embedded *server.Server

	closed    chan struct{} // closed by the connection's ClosedHandler
	closeOnce sync.Once
}

// EmbeddedURL is the client URL of the embedded server ("" when connected to an
// external one), so that `worker run` and `worker demo` can tell the user where to
// publish.
func (b *Broker) EmbeddedURL() string {
	if b == nil || b.Embedded == nil {
		return ""
	}
	return b.Embedded.ClientURL()
}

// Names of the topology's streams and buckets, derived from the subject prefix.
type Names struct {
	Prefix      string // "tiktok"
	RowsStream  string // TIKTOK_ROWS on <prefix>.rows.>
	DLQStream   string // TIKTOK_DLQ on <prefix>.dlq.>
	SentStream  string // TIKTOK_SENT on <prefix>.sent.>, the sent log (internal/dedup)
	DedupBucket string // TIKTOK_DEDUP, the first version's receipts (read once to upgrade)
	TokenBucket string // TIKTOK_TOKENS
}

// RowsSubject is <prefix>.rows.<destination>.
func (n Names) RowsSubject(dest string) string { return n.Prefix + ".rows." + dest }

// DLQSubject is <prefix>.dlq.<destination>.
func (n Names) DLQSubject(dest string) string { return n.Prefix + ".dlq." + dest }

// SentSubject is <prefix>.sent.<destination>: the sent log's records for dest.
func (n Names) SentSubject(dest string) string { return n.Prefix + ".sent." + dest }

// SentFilter is <prefix>.sent.>, the sent log's subjects.
func (n Names) SentFilter() string { return n.Prefix + ".sent.>" }

// ConsumerName is the durable pull consumer shared by every replica for dest.
func (n Names) ConsumerName(dest string) string { return "worker-" + dest }

// RowsFilter is <prefix>.rows.>, the rows stream's subjects.
func (n Names) RowsFilter() string { return n.Prefix + ".rows.>" }

// DLQFilter is <prefix>.dlq.>, the DLQ stream's subjects.
func (n Names) DLQFilter() string { return n.Prefix + ".dlq.>" }

// DefaultPrefix is the subject prefix when none is configured.
const DefaultPrefix = "tiktok"

// NamesFor derives the topology's names from a subject prefix ("" means "tiktok").
// Stream and bucket names are the prefix upper-cased, with every character that a
// stream or bucket name may not hold (such as the '.' of "acme.events") turned into
// '_': "acme.events" → ACME_EVENTS_ROWS.
func NamesFor(prefix string) Names {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	base := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		default:
			return '_'
		}
	}, prefix)
	return Names{
		Prefix:      prefix,
		RowsStream:  base + "_ROWS",
		DLQStream:   base + "_DLQ",
		SentStream:  base + "_SENT",
		DedupBucket: base + "_DEDUP",
		TokenBucket: base + "_TOKENS",
	}
}

// Connect connects to cfg.URL (a comma-separated list for a cluster) with the
// credentials, NKey or TLS settings of cfg and reconnects forever; with no URL it
// starts an embedded JetStream server storing under cfg.DataDir and logs that it did.
//
// A connection that stops answering pings (a partition: the TCP connection stays
// open but no bytes pass) is declared stale within StaleAfter of the ping settings
// (40 s by default, WithPing), logged, and reconnected.
func Connect(ctx context.Context, cfg config.NATS, log zerolog.Logger, options ...Option) (*Broker, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	set := connSettings{pingInterval: DefaultPingInterval, maxPingsOut: DefaultMaxPingsOut}
	for _, o := range options {
		o(&set)
	}
	b := &Broker{closed: make(chan struct{})}
	url := strings.TrimSpace(cfg.URL)
	if url == "" {
		s, err := startEmbedded(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		b.Embedded = s
		url = s.ClientURL()
		dir := cfg.DataDir
		if dir == "" {
			dir = DefaultDataDir
		}
		log.Info().Str("store_dir", dir).Str("url", url).
			Msgf("no NATS URL configured: started an embedded JetStream server storing under %s", dir)
	}

	opts, err := connOptions(cfg, log, b.closed, set)
	if err != nil {
		b.shutdownEmbedded()
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d > 0 && d < nats.DefaultTimeout {
			opts = append(opts, nats.Timeout(d))
		}
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		b.shutdownEmbedded()
		return nil, fmt.Errorf("connect to NATS at %s: %w (check nats.url / NATS_URL and the credentials, nkey or TLS settings)", redactURLs(url), err)
	}
	b.NC = nc
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(publishAsyncTimeout))
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("JetStream context: %w", err)
	}
	b.JS = js
	log.Info().Str("url", nc.ConnectedUrlRedacted()).Str("server", nc.ConnectedServerName()).Msg("connected to NATS")
	return b, nil
}

// connOptions are the client options for cfg: auth, TLS, reconnects and the handlers
// that log each connection event once. Nothing logged carries a credential: URLs are
// redacted and the handlers log only server names and error texts.
func connOptions(cfg config.NATS, log zerolog.Logger, closed chan struct{}, set connSettings) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(ConnectionName),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.ReconnectJitter(reconnectJitter, reconnectJitterTLS),
		nats.PingInterval(set.pingInterval),
		nats.MaxPingsOutstanding(set.maxPingsOut),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() {
				return // a deliberate Close: the closed handler says so
			}
			if errors.Is(err, nats.ErrStaleConnection) {
				log.Error().Err(err).Dur("ping_interval", set.pingInterval).Int("max_pings_out", set.maxPingsOut).
					Msgf("NATS answered none of %d pings sent %s apart: the connection is cut off (a network partition?); not ready, reconnecting",
						set.maxPingsOut, set.pingInterval)
				return
			}
			log.Warn().Err(err).Msg("disconnected from NATS; reconnecting")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("url", nc.ConnectedUrlRedacted()).Str("server", nc.ConnectedServerName()).Msg("reconnected to NATS")
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			ev := log.Info()
			if err := nc.LastError(); err != nil {
				ev = log.Error().Err(err)
			}
			ev.Msg("NATS connection closed")
			close(closed)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			ev := log.Error().Err(err)
			if sub != nil {
				ev = ev.Str("subject", sub.Subject)
			}
			ev.Msg("NATS asynchronous error")
		}),
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.NKeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NKeyFile)
		if err != nil {
			// The error of NkeyOptionFromSeed names the file, never the seed.
			return nil, fmt.Errorf("nats.nkey_file: %w", err)
		}
		opts = append(opts, o)
	}
	if cfg.TLSCA != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCA))
	}
	switch {
	case cfg.TLSCert != "" && cfg.TLSKey != "":
		opts = append(opts, nats.ClientCert(cfg.TLSCert, cfg.TLSKey))
	case cfg.TLSCert != "" || cfg.TLSKey != "":
		return nil, errors.New("nats.tls_cert and nats.tls_key: set both or neither")
	}
	return opts, nil
}

// startEmbedded starts a JetStream server on a random 127.0.0.1 port — random, so
// that it never collides with a real server on 4222 or a second worker — storing
// under dir.
func startEmbedded(dir string) (*server.Server, error) {
	if dir == "" {
		dir = DefaultDataDir
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("nats.data_dir %q: %w", dir, err)
	}
	s, err := server.NewServer(&server.Options{
		ServerName: "tiktok-events-worker-embedded",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   abs,
		NoLog:      true,
		NoSigs:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server (nats.data_dir %q): %w", dir, err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded NATS server (nats.data_dir %q) not ready within 10s: is another worker using the same data_dir?", dir)
	}
	if !s.JetStreamEnabled() {
		s.Shutdown()
		return nil, fmt.Errorf("embedded NATS server: JetStream did not start under nats.data_dir %q (check that the directory is writable)", dir)
	}
	return s, nil
}

// Close drains the connection and shuts the embedded server down, if any. It is safe
// to call more than once.
func (b *Broker) Close() {
	if b == nil {
		return
	}
	b.closeOnce.Do(func() {
		if b.NC != nil {
			if err := b.NC.Drain(); err != nil {
				b.NC.Close()
			}
			select {
			case <-b.closed:
			case <-time.After(drainTimeout):
				b.NC.Close()
			}
		}
		b.shutdownEmbedded()
	})
}

func (b *Broker) shutdownEmbedded() {
	if b.Embedded != nil {
		b.Embedded.Shutdown()
		b.Embedded.WaitForShutdown()
	}
}

// redactURLs hides the user info of each URL in a comma-separated list, so a URL with
// a password can be put in an error.
func redactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		if err != nil || u.Host == "" {
			if at := strings.LastIndex(p, "@"); at >= 0 {
				p = "[REDACTED]" + p[at:]
			}
			parts[i] = p
			continue
		}
		if u.User != nil {
			u.User = url.User("REDACTED")
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
