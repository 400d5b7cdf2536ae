package dlq

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
)

// Filter selects dead letters. The zero Filter selects every letter.
type Filter struct {
	Destination string    // "" = every destination
	Reason      string    // "" = every reason
	Since       time.Time // zero = from the first letter; else letters stored at or after
	Limit       int       // 0 = no limit; else at most Limit matching letters
	FromSeq     uint64    // 0 = from the first letter; else letters at or after this stream sequence (wins over Since)
}

// Entry is one dead letter as stored in the DLQ stream.
type Entry struct {
	Seq           uint64    `json:"seq"`
	Subject       string    `json:"subject"`
	Destination   string    `json:"destination"`
	Reason        string    `json:"reason"`
	EventID       string    `json:"event_id,omitempty"` // the body's event_id (EventIDOf)
	Error         string    `json:"error,omitempty"`
	Field         string    `json:"field,omitempty"`
	TikTokCode    int       `json:"tiktok_code,omitempty"`
	TikTokReqID   string    `json:"tiktok_request_id,omitempty"`
	SourceSubject string    `json:"source_subject,omitempty"`
	SourceSeq     uint64    `json:"source_seq,omitempty"`
	Attempts      int       `json:"attempts,omitempty"`
	FailedAt      time.Time `json:"failed_at"` // Dlq-Failed-At, or Time when the header is missing or bad
	Time          time.Time `json:"time"`      // when the stream stored it
	Body          []byte    `json:"-"`         // the row as JSON (PII hashed) or the malformed message
}

// scanBatch is how many letters one fetch asks for.
const scanBatch = 256

// fetchWait bounds one fetch. It only matters when letters vanish between the
// consumer's creation and the fetch (a concurrent replay deleted them): the scan then
// ends instead of waiting for letters that will never come.
const fetchWait = 5 * time.Second

// scan calls fn for every letter matching f, in stream order, until fn returns false,
// Limit matches were seen, or the last letter present when scan started was passed:
// letters that arrive during a scan are left for the next one, so a scan never hangs.
// It reads through an ephemeral, unacknowledged, in-memory consumer filtered on the
// destination's subject and started at Since, so the server skips what it can.
func scan(ctx context.Context, js jetstream.JetStream, names broker.Names, f Filter, fn func(Entry) (bool, error)) error {
	stream, err := js.Stream(ctx, names.DLQStream)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("dlq: stream %s not found: nothing was dead-lettered on this server yet, or `worker run` never ran against it (it creates the stream): %w", names.DLQStream, err)
		}
		return fmt.Errorf("dlq: looking up stream %s (is NATS reachable?): %w", names.DLQStream, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("dlq: stream %s info: %w", names.DLQStream, err)
	}
	lastSeq := info.State.LastSeq
	if info.State.Msgs == 0 {
		return nil
	}

	subject := names.DLQSubject(">")
	if f.Destination != "" {
		subject = names.DLQSubject(f.Destination)
	}
	cfg := jetstream.ConsumerConfig{
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubject:     subject,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		MemoryStorage:     true,
		InactiveThreshold: time.Minute, // the server cleans it up if we die mid-scan
	}
	switch {
	case f.FromSeq > 0:
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = f.FromSeq
	case !f.Since.IsZero():
		since := f.Since
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = &since
	}
	cons, err := stream.CreateConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("dlq: creating a reader on %s: %w", names.DLQStream, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = stream.DeleteConsumer(dctx, cons.CachedInfo().Name) // best effort: InactiveThreshold is the backstop
	}()
	// Each fetch asks for no more than the letters still pending, so the server
	// answers as soon as it delivered them instead of holding the request open.
	pending := cons.CachedInfo().NumPending
	if pending == 0 {
		return nil
	}

	matched := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		fctx, cancel := context.WithTimeout(ctx, fetchWait)
		batch, err := cons.Fetch(int(min(pending, scanBatch)), jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			return fmt.Errorf("dlq: reading %s: %w", names.DLQStream, err)
		}
		n := 0
		done := false
		for m := range batch.Messages() {
			n++
			if done {
				continue // drain the batch
			}
			md, err := m.Metadata()
			if err != nil {
				cancel()
				return fmt.Errorf("dlq: reading %s: %w", names.DLQStream, err)
			}
			pending = md.NumPending
			if md.Sequence.Stream > lastSeq {
				done = true
				continue
			}
			e := entryOf(names, md.Sequence.Stream, m.Subject(), m.Headers(), m.Data(), md.Timestamp)
			if f.Reason == "" || e.Reason == f.Reason {
				matched++
				more, err := fn(e)
				if err != nil {
					cancel()
					return err
				}
				if !more || (f.Limit > 0 && matched >= f.Limit) {
					done = true
				}
			}
			if md.NumPending == 0 || md.Sequence.Stream >= lastSeq {
				done = true
			}
		}
		cancel()
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("dlq: reading %s: %w", names.DLQStream, err)
		}
		if done || n == 0 || pending == 0 {
			return ctx.Err()
		}
	}
}

func entryOf(names broker.Names, seq uint64, subject string, h nats.Header, body []byte, stored time.Time) Entry {
	e := Entry{
		Seq:           seq,
		Subject:       subject,
		Destination:   strings.TrimPrefix(subject, names.DLQSubject("")),
		Reason:        h.Get(HeaderReason),
		Error:         h.Get(HeaderError),
		Field:         h.Get(HeaderField),
		TikTokReqID:   h.Get(HeaderTikTokReqID),
		SourceSubject: h.Get(HeaderSourceSubject),
		Time:          stored.UTC(),
		Body:          body,
		EventID:       EventIDOf(body),
	}
	e.TikTokCode, _ = strconv.Atoi(h.Get(HeaderTikTokCode))
	e.SourceSeq, _ = strconv.ParseUint(h.Get(HeaderSourceSeq), 10, 64)
	e.Attempts, _ = strconv.Atoi(h.Get(HeaderAttempts))
	if t, err := time.Parse(time.RFC3339, h.Get(HeaderFailedAt)); err == nil {
		e.FailedAt = t.UTC()
	} else {
		e.FailedAt = e.Time
	}
	return e
}

// List returns the letters matching f, oldest first.
func List(ctx context.Context, js jetstream.JetStream, names broker.Names, f Filter) ([]Entry, error) {
	var out []Entry
	err := scan(ctx, js, names, f, func(e Entry) (bool, error) {
		out = append(out, e)
		return true, nil
	})
	return out, err
}

// Count is the number of letters of one destination and reason, and the failure
// times of the oldest and newest of them.
type Count struct {
	Destination string    `json:"destination"`
	Reason      string    `json:"reason"`
	Count       int       `json:"count"`
	Oldest      time.Time `json:"oldest"`
	Newest      time.Time `json:"newest"`
	// MatchKeys counts the letters whose row carries each match key (by the names of
	// events.MatchKeyNames); MatchKeys[k] / Count is the key's share. Keys no letter
	// carries are absent.
	MatchKeys map[string]int `json:"match_keys"`
}

// Stats counts the letters matching f by destination and reason, sorted by
// destination then reason, with the match keys their rows carry. It holds one Count
// per pair, never the letters.
func Stats(ctx context.Context, js jetstream.JetStream, names broker.Names, f Filter) ([]Count, error) {
	type key struct{ dest, reason string }
	counts := map[key]*Count{}
	cols := matchKeyColumns()
	err := scan(ctx, js, names, f, func(e Entry) (bool, error) {
		k := key{e.Destination, e.Reason}
		c := counts[k]
		if c == nil {
			c = &Count{Destination: e.Destination, Reason: e.Reason, Oldest: e.FailedAt, Newest: e.FailedAt, MatchKeys: map[string]int{}}
			counts[k] = c
		}
		c.Count++
		countMatchKeys(e.Body, cols, c.MatchKeys)
		if e.FailedAt.Before(c.Oldest) {
			c.Oldest = e.FailedAt
		}
		if e.FailedAt.After(c.Newest) {
			c.Newest = e.FailedAt
		}
		return true, nil
	})
	out := make([]Count, 0, len(counts))
	for _, c := range counts {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Destination != out[j].Destination {
			return out[i].Destination < out[j].Destination
		}
		return out[i].Reason < out[j].Reason
	})
	return out, err
}
