// Package dlq writes, lists, counts and replays dead letters (SPEC §5): rows that could
// not be delivered, with the reason in Dlq-* headers.
package dlq

import (
	"context"
	"time"
)

// Letter is one dead letter.
type Letter struct {
	Destination   string
	Body          []byte // the row as JSON (PII hashed), or a malformed message as it came
	Reason        string // Dlq-Reason
	Error         string // Dlq-Error
	Field         string // Dlq-Field
	TikTokCode    int    // Dlq-Tiktok-Code (0: header omitted)
	TikTokReqID   string // Dlq-Tiktok-Request-Id
	SourceSubject string // Dlq-Source-Subject
	SourceSeq     uint64 // Dlq-Source-Seq (stream sequence of the source message)
	Row           int    // row index in the source message; part of the Nats-Msg-Id
	Attempts      int    // Dlq-Attempts (deliveries of the source message)
	FailedAt      time.Time
}

// Publisher publishes dead letters and returns once JetStream acknowledged all of
// them. A repeated publish of the same letter (same source seq, row and reason) is a
// no-op thanks to its Nats-Msg-Id.
type Publisher interface {
	Publish(ctx context.Context, letters []Letter) error
}
