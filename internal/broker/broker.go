// Package broker connects to NATS (or starts an embedded JetStream server) and creates
// the streams, consumers and key-value buckets the worker needs (SPEC §5).
package broker

import (
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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
