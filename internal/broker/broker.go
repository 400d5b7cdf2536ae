// Package broker connects to NATS (or starts an embedded JetStream server) and creates
// the streams, consumers and key-value buckets the worker needs (SPEC §5).
package broker

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
)

// Broker is a live NATS connection with JetStream, and the embedded server when one
// was started.
type Broker struct {
	NC *nats.Conn
	JS jetstream.JetStream
}

// Names of the topology's streams and buckets, derived from the subject prefix.
type Names struct {
	Prefix      string // "tiktok"
	RowsStream  string // TIKTOK_ROWS on <prefix>.rows.>
	DLQStream   string // TIKTOK_DLQ on <prefix>.dlq.>
	DedupBucket string // TIKTOK_DEDUP
	TokenBucket string // TIKTOK_TOKENS
}

// RowsSubject is <prefix>.rows.<destination>.
func (n Names) RowsSubject(dest string) string { return n.Prefix + ".rows." + dest }

// DLQSubject is <prefix>.dlq.<destination>.
func (n Names) DLQSubject(dest string) string { return n.Prefix + ".dlq." + dest }

// ConsumerName is the durable pull consumer shared by every replica for dest.
func (n Names) ConsumerName(dest string) string { return "worker-" + dest }

// NamesFor derives the topology's names from a subject prefix ("" means "tiktok").
func NamesFor(prefix string) Names { panic("TODO(broker)") }

// Connect connects to cfg.URL (a comma-separated list for a cluster) with the
// credentials, NKey or TLS settings of cfg and reconnects forever; with no URL it
// starts an embedded JetStream server storing under cfg.DataDir and logs that it did.
func Connect(ctx context.Context, cfg config.NATS, log zerolog.Logger) (*Broker, error) {
	panic("TODO(broker)")
}

// Close drains the connection and shuts the embedded server down, if any.
func (b *Broker) Close() { panic("TODO(broker)") }

// Topology is what Ensure creates.
type Topology struct {
	Names         Names
	Replicas      int           // stream, consumer and KV replicas
	Destinations  []string      // one durable pull consumer each
	MaxAckPending int           // per consumer (shared by every worker replica)
	AckWait       time.Duration // consumer ack wait
	DedupTTL      time.Duration // dedup bucket TTL
	DLQRetention  time.Duration // DLQ stream max age
}

// Ensure creates the rows stream, the consumers, the dedup and token buckets and the
// DLQ stream if missing. It is idempotent and safe when several replicas run it at once.
func Ensure(ctx context.Context, js jetstream.JetStream, t Topology) error {
	panic("TODO(broker)")
}
