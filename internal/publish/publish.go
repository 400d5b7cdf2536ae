package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrNoStream means no JetStream stream captures the subject: nothing can be
// published until one does.
var ErrNoStream = errors.New("no JetStream stream captures the subject")

// Summary counts what a publish did.
type Summary struct {
	Rows          int // rows read
	Messages      int // messages sent
	Published     int // messages acknowledged by JetStream
	PublishedRows int // rows in those messages
	Failed        int // messages sent but not acknowledged (or never sent after a failure)
	FailedRows    int
	Elapsed       time.Duration
}

// RowsPerSecond is the rate of acknowledged rows.
func (s Summary) RowsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.PublishedRows) / s.Elapsed.Seconds()
}

// Option configures Publish.
type Option func(*options)

type options struct {
	maxPending int
	onProgress func(Summary)
	now        func() time.Time
}

// DefaultMaxPending is the default number of unacknowledged publishes. It stays under
// the jetstream package's own default cap (4,000) so the two never fight.
const DefaultMaxPending = 2048

// WithMaxPending bounds the publishes in flight (awaiting their ack).
func WithMaxPending(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxPending = n
		}
	}
}

// WithProgress calls fn after each acknowledged (or failed) message with the running
// totals. It is called from one goroutine, never concurrently.
func WithProgress(fn func(Summary)) Option {
	return func(o *options) { o.onProgress = fn }
}

// WithClock replaces time.Now for Elapsed.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// Publish publishes every message of src to subject asynchronously, at most
// MaxPending awaiting their ack at once, and returns when every ack (or failure) is in.
// It checks first that a stream captures subject, so a missing stream fails at once
// with ErrNoStream instead of once per message. The error reports how many messages
// failed and the first reason; the Summary is filled in either way.
func Publish(ctx context.Context, js jetstream.JetStream, subject string, src Source, opts ...Option) (Summary, error) {
	o := options{maxPending: DefaultMaxPending, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if _, err := js.StreamNameBySubject(ctx, subject); err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return Summary{}, fmt.Errorf("publish to %s: %w: run `worker run` once against this NATS server (it creates the streams) or create a stream on %s yourself",
				subject, ErrNoStream, subject)
		}
		return Summary{}, fmt.Errorf("publish to %s: looking up its stream (is NATS reachable?): %w", subject, err)
	}

	type inflight struct {
		f    jetstream.PubAckFuture
		rows int
	}
	start := o.now()
	var (
		mu       sync.Mutex // guards sum and firstErr between the reader and the collector
		sum      Summary
		firstErr error
	)
	fail := func(rows int, err error) {
		sum.Failed++
		sum.FailedRows += rows
		if firstErr == nil {
			firstErr = err
		}
	}
	// The queue's capacity is the bound on publishes in flight; the collector waits
	// for acks in publish order, which is the order JetStream acks them in.
	queue := make(chan inflight, o.maxPending)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for it := range queue {
			var err error
			select {
			case <-it.f.Ok():
			case err = <-it.f.Err():
			case <-ctx.Done():
				err = fmt.Errorf("not confirmed: %w", ctx.Err())
			}
			mu.Lock()
			if err != nil {
				fail(it.rows, err)
			} else {
				sum.Published++
				sum.PublishedRows += it.rows
			}
			snap := sum
			mu.Unlock()
			if o.onProgress != nil {
				snap.Elapsed = o.now().Sub(start)
				o.onProgress(snap)
			}
		}
	}()

	var readErr error
	for ctx.Err() == nil {
		m, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		mu.Lock()
		sum.Rows += m.Rows
		sum.Messages++
		mu.Unlock()
		f, err := js.PublishAsync(subject, m.Data, jetstream.WithStallWait(time.Minute))
		if err != nil {
			mu.Lock()
			fail(m.Rows, fmt.Errorf("message at line %d: %w", m.Line, err))
			mu.Unlock()
			continue
		}
		select {
		case queue <- inflight{f, m.Rows}:
		case <-ctx.Done():
			// The collector will not see this one: count it as unconfirmed.
			mu.Lock()
			fail(m.Rows, fmt.Errorf("not confirmed: %w", ctx.Err()))
			mu.Unlock()
		}
	}
	close(queue)
	<-done
	sum.Elapsed = o.now().Sub(start)

	var errs []error
	if readErr != nil {
		errs = append(errs, fmt.Errorf("reading rows: %w", readErr))
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, fmt.Errorf("interrupted after %d of the rows read: %w", sum.PublishedRows, err))
	}
	if sum.Failed > 0 {
		errs = append(errs, fmt.Errorf("%d of %d messages (%d rows) were not acknowledged by JetStream; first error: %w",
			sum.Failed, sum.Messages, sum.FailedRows, firstErr))
	}
	if len(errs) > 0 {
		return sum, fmt.Errorf("publish to %s: %w", subject, errors.Join(errs...))
	}
	return sum, nil
}

// Messages is a Source over a slice.
func Messages(msgs []Message) Source { return &sliceSource{msgs: msgs} }

type sliceSource struct {
	msgs []Message
	i    int
}

func (s *sliceSource) Next() (Message, error) {
	if s.i >= len(s.msgs) {
		return Message{}, io.EOF
	}
	s.i++
	return s.msgs[s.i-1], nil
}

// Rows publishes ready-made message bodies (each a JSON object or array of rows) to
// subject: the short way for callers that built their messages themselves, like
// `worker demo`. Rows in a body are counted (an array counts its elements).
func Rows(ctx context.Context, js jetstream.JetStream, subject string, bodies [][]byte, opts ...Option) (Summary, error) {
	msgs := make([]Message, len(bodies))
	for i, b := range bodies {
		msgs[i] = Message{Data: b, Rows: countRows(b), Line: i + 1}
	}
	return Publish(ctx, js, subject, Messages(msgs), opts...)
}

func countRows(b []byte) int {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '[':
			var arr []json.RawMessage
			if json.Unmarshal(b, &arr) == nil && len(arr) > 0 {
				return len(arr)
			}
		}
		return 1
	}
	return 1
}
