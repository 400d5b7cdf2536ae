// Package dlq writes, lists, counts and replays dead letters (SPEC §5): rows that could
// not be delivered, with the reason in Dlq-* headers.
package dlq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
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

// The reasons of SPEC §5, the only values of Dlq-Reason.
const (
	ReasonMalformedMessage = "malformed_message"
	ReasonInvalidRow       = "invalid_row"
	ReasonOutsideWindow    = "outside_window"
	ReasonFutureTimestamp  = "future_timestamp"
	ReasonRejected         = "rejected"
	ReasonRetriesExhausted = "retries_exhausted"
)

// Reasons lists every valid Dlq-Reason, in the order of SPEC §5.
func Reasons() []string {
	return []string{ReasonMalformedMessage, ReasonInvalidRow, ReasonOutsideWindow,
		ReasonFutureTimestamp, ReasonRejected, ReasonRetriesExhausted}
}

// ValidReason reports whether r is one of Reasons.
func ValidReason(r string) bool {
	for _, v := range Reasons() {
		if v == r {
			return true
		}
	}
	return false
}

// Header names of a dead letter.
const (
	HeaderReason        = "Dlq-Reason"
	HeaderError         = "Dlq-Error"
	HeaderField         = "Dlq-Field"
	HeaderTikTokCode    = "Dlq-Tiktok-Code"
	HeaderTikTokReqID   = "Dlq-Tiktok-Request-Id"
	HeaderSourceSubject = "Dlq-Source-Subject"
	HeaderSourceSeq     = "Dlq-Source-Seq"
	HeaderAttempts      = "Dlq-Attempts"
	HeaderFailedAt      = "Dlq-Failed-At"
)

// MsgID is the Nats-Msg-Id of a letter: stable for the same source message, row and
// reason, so that a worker that crashed after publishing a dead letter but before
// acking its source publishes the same id again and the DLQ stream drops the repeat.
func MsgID(l Letter) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d\x00%s", l.SourceSubject, l.SourceSeq, l.Row, l.Reason)
	return "dlq-" + hex.EncodeToString(h.Sum(nil))[:40]
}

// NewMsg builds the NATS message of a letter, on names.DLQSubject(l.Destination).
func NewMsg(names broker.Names, l Letter) *nats.Msg {
	m := nats.NewMsg(names.DLQSubject(l.Destination))
	m.Data = l.Body
	h := m.Header
	h.Set(HeaderReason, l.Reason)
	h.Set(HeaderError, l.Error)
	if l.Field != "" {
		h.Set(HeaderField, l.Field)
	}
	if l.TikTokCode != 0 {
		h.Set(HeaderTikTokCode, strconv.Itoa(l.TikTokCode))
	}
	if l.TikTokReqID != "" {
		h.Set(HeaderTikTokReqID, l.TikTokReqID)
	}
	h.Set(HeaderSourceSubject, l.SourceSubject)
	h.Set(HeaderSourceSeq, strconv.FormatUint(l.SourceSeq, 10))
	h.Set(HeaderAttempts, strconv.Itoa(l.Attempts))
	failedAt := l.FailedAt
	if failedAt.IsZero() {
		failedAt = time.Now()
	}
	h.Set(HeaderFailedAt, failedAt.UTC().Format(time.RFC3339))
	h.Set(jetstream.MsgIDHeader, MsgID(l))
	return m
}

// NewPublisher returns a Publisher that writes letters to <prefix>.dlq.<destination>
// on js.
func NewPublisher(js jetstream.JetStream, names broker.Names) Publisher {
	return &publisher{js: js, names: names}
}

type publisher struct {
	js    jetstream.JetStream
	names broker.Names
}

// Publish sends every letter asynchronously, then waits for all the acks at once: a
// batch of dead letters costs one round trip, not one per letter. It waits on each
// letter's own future rather than on PublishAsyncComplete, because js may be shared
// with other async publishers (the dedup markers) whose acks are not ours to wait for.
func (p *publisher) Publish(ctx context.Context, letters []Letter) error {
	futures := make([]jetstream.PubAckFuture, 0, len(letters))
	var errs []error
	for i, l := range letters {
		f, err := p.js.PublishMsgAsync(NewMsg(p.names, l))
		if err != nil {
			errs = append(errs, fmt.Errorf("letter %d (%s, %s): %w", i, l.Destination, l.Reason, err))
			continue
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs = append(errs, fmt.Errorf("%s: %w", f.Msg().Subject, err))
		case <-ctx.Done():
			return fmt.Errorf("dlq: waiting for dead-letter acks: %w (the source messages must not be acked; they will be redelivered)", ctx.Err())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("dlq: %d of %d dead letters not acknowledged (is the %s stream on %s present? `worker run` creates it): %w",
			len(errs), len(letters), p.names.DLQStream, p.names.DLQSubject(">"), errors.Join(errs...))
	}
	return nil
}
