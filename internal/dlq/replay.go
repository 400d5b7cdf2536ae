package dlq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
)

// ReplayReport says what Replay did (or, in a dry run, would do).
type ReplayReport struct {
	DryRun   bool
	Entries  []Entry // replayed (or to replay) letters, oldest first, bodies included
	Replayed int     // letters republished and removed from the DLQ (0 in a dry run)
	Messages int     // rows-stream messages they went back in (an event's rows share one)
	Skipped  int     // left in the DLQ: their destination is not consumed (see Consumed)
}

// ReplayOption configures Replay.
type ReplayOption func(*replayOptions)

type replayOptions struct {
	onMessage func([]Entry)
	onSkipped func(Entry, string)
	consumed  map[string]bool // nil: every well-formed destination
}

// OnReplayed calls fn after each message was republished and its letters removed from
// the DLQ (in a dry run: for each message that would be), with the letters it holds,
// so a command can print progress.
func OnReplayed(fn func(letters []Entry)) ReplayOption {
	return func(o *replayOptions) { o.onMessage = fn }
}

// Consumed names the destinations that workers consume (the configuration's). A letter
// of any other destination stays in the DLQ: republished, it would wait in the rows
// stream with no consumer. Without this option every destination that is a single
// subject token replays.
func Consumed(destinations []string) ReplayOption {
	return func(o *replayOptions) {
		o.consumed = make(map[string]bool, len(destinations))
		for _, d := range destinations {
			o.consumed[d] = true
		}
	}
}

// OnSkipped calls fn for each letter Replay leaves in the DLQ, with the reason in
// words.
func OnSkipped(fn func(e Entry, why string)) ReplayOption {
	return func(o *replayOptions) { o.onSkipped = fn }
}

// skipReason says why the letter e must not be replayed, or "".
func (o *replayOptions) skipReason(names broker.Names, e Entry) string {
	switch {
	case !broker.ValidDestination(e.Destination):
		return fmt.Sprintf("its subject %s does not name one destination (a name is one token of letters, digits, - and _): nothing consumes %s; inspect it with `worker dlq ls --json` and remove it with `worker dlq rm`",
			e.Subject, names.RowsSubject(e.Destination))
	case o.consumed != nil && !o.consumed[e.Destination]:
		return fmt.Sprintf("destination %q is not in the configuration: no worker consumes %s; add the destination (or pass the workers' --config) and replay again, or remove it with `worker dlq rm`",
			e.Destination, names.RowsSubject(e.Destination))
	}
	return ""
}

// ReplayMsgID is the Nats-Msg-Id of the republish of the message whose first (oldest)
// letter is DLQ letter seq. A replay that was interrupted between its republish and
// the deletes, and is then run again, publishes the same id, and the rows stream
// drops the repeat within its duplicates window; past the window the worker's
// event_id dedup still applies.
func ReplayMsgID(names broker.Names, seq uint64) string {
	return "dlq-replay-" + names.DLQStream + "-" + strconv.FormatUint(seq, 10)
}

// maxOpenEvents bounds how many events Replay holds while it looks for more of their
// rows. The rows of one event are dead-lettered together, so they sit next to each
// other in the DLQ, give or take the letters of other messages handled at the same
// moment; an event whose rows are further apart than this is replayed in parts.
const maxOpenEvents = 1024

// eventKey identifies the rows of one event: one destination, one source message, one
// event_id.
type eventKey struct {
	dest, sourceSubject string
	sourceSeq           uint64
	eventID             string
}

// keyOf is the event a letter belongs to; ok is false for a letter that stands alone
// (no event_id, no source message, or a body that is not one JSON object).
func keyOf(e Entry) (eventKey, bool) {
	if e.EventID == "" || e.SourceSeq == 0 || !isObject(e.Body) {
		return eventKey{}, false
	}
	return eventKey{dest: e.Destination, sourceSubject: e.SourceSubject, sourceSeq: e.SourceSeq, eventID: e.EventID}, true
}

// Replay republishes every letter matching f to <prefix>.rows.<destination> and
// removes it from the DLQ by sequence only once the republish was acknowledged.
//
// The rows of one event — letters of one destination that share an event_id and come
// from one source message (an order's line items) — go back together in ONE message,
// a JSON array of their bodies in DLQ order, so that a corrected order is sent whole
// and not item by item (the first item alone would be accepted and the rest become
// duplicates of its event_id). Any other letter goes back byte for byte. f.Limit
// counts letters, but never cuts an event: rows of an event already taken come along.
//
// Interrupting it (ctx) is safe at any point: a letter is either still in the DLQ, or
// in the rows stream, or both (and then the next replay republishes its message under
// the same Nats-Msg-Id, as a message's letters are removed newest first). It stops at
// the first error and reports what was done.
//
// Every reason replays, malformed_message included: the body goes back exactly as it
// came, so unless the operator fixed the publisher the worker dead-letters it again.
// Letters whose destination is not consumed (Consumed) or is not one subject token
// stay where they are (OnSkipped says why). A dry run lists what would be replayed
// and changes nothing.
func Replay(ctx context.Context, js jetstream.JetStream, names broker.Names, f Filter, dryRun bool, opts ...ReplayOption) (ReplayReport, error) {
	var o replayOptions
	for _, opt := range opts {
		opt(&o)
	}
	rep := ReplayReport{DryRun: dryRun}
	var stream jetstream.Stream
	if !dryRun {
		var err error
		if stream, err = js.Stream(ctx, names.DLQStream); err != nil {
			return rep, fmt.Errorf("dlq: looking up stream %s: %w", names.DLQStream, err)
		}
	}
	flush := func(msg []Entry) error {
		if dryRun {
			rep.Entries = append(rep.Entries, msg...)
			rep.Messages++
			if o.onMessage != nil {
				o.onMessage(msg)
			}
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := republish(ctx, js, stream, names, msg); err != nil {
			return err
		}
		rep.Entries = append(rep.Entries, msg...)
		rep.Replayed += len(msg)
		rep.Messages++
		if o.onMessage != nil {
			o.onMessage(msg)
		}
		return nil
	}

	type gathering struct {
		key     eventKey
		grouped bool
		letters []Entry
	}
	var (
		open      = map[eventKey]*gathering{}
		pending   []*gathering // messages being gathered, oldest first
		taken     int          // letters taken
		pastLimit int          // letters looked at after the limit, for open events
	)
	flushOldest := func() error {
		g := pending[0]
		pending[0] = nil
		pending = pending[1:]
		if g.grouped {
			delete(open, g.key)
		}
		return flush(g.letters)
	}
	all := f
	all.Limit = 0
	err := scan(ctx, js, names, all, func(e Entry) (bool, error) {
		if why := o.skipReason(names, e); why != "" {
			rep.Skipped++
			if o.onSkipped != nil {
				o.onSkipped(e, why)
			}
			return true, nil
		}
		k, grouped := keyOf(e)
		if g := open[k]; grouped && g != nil {
			g.letters = append(g.letters, e)
			taken++
			return true, nil
		}
		if f.Limit > 0 && taken >= f.Limit {
			pastLimit++
			return len(open) > 0 && pastLimit <= maxOpenEvents, nil
		}
		taken++
		g := &gathering{key: k, grouped: grouped, letters: []Entry{e}}
		if grouped {
			open[k] = g
		}
		pending = append(pending, g)
		if len(pending) > maxOpenEvents {
			return true, flushOldest()
		}
		return true, nil
	})
	for err == nil && len(pending) > 0 {
		err = flushOldest()
	}
	if err != nil {
		return rep, fmt.Errorf("dlq: replay stopped after %d letters: %w", rep.Replayed, err)
	}
	return rep, nil
}

// republish publishes the letters of one message to their rows subject — the body as
// it is for one letter, a JSON array of the bodies for an event's rows — and, once
// JetStream acknowledged it, removes the letters from the DLQ, newest first, so that
// an interrupted replay finds the oldest one, and the same Nats-Msg-Id, again.
func republish(ctx context.Context, js jetstream.JetStream, stream jetstream.Stream, names broker.Names, msg []Entry) error {
	first := msg[0]
	m := nats.NewMsg(names.RowsSubject(first.Destination))
	m.Data = first.Body
	if len(msg) > 1 {
		bodies := make([][]byte, len(msg))
		for i, e := range msg {
			bodies[i] = bytes.TrimSpace(e.Body)
		}
		m.Data = append(append([]byte{'['}, bytes.Join(bodies, []byte{','})...), ']')
	}
	if _, err := js.PublishMsg(ctx, m, jetstream.WithMsgID(ReplayMsgID(names, first.Seq))); err != nil {
		return fmt.Errorf("dlq: republishing %s to %s (is the %s stream present? `worker run` creates it); it stays in the DLQ: %w",
			lettersText(msg), m.Subject, names.RowsStream, err)
	}
	// The republish is acknowledged: deleting now cannot lose a row. An interruption
	// here leaves letters in both places, which the next replay's Nats-Msg-Id (or the
	// worker's event_id dedup) absorbs.
	for i := len(msg) - 1; i >= 0; i-- {
		seq := msg[i].Seq
		if err := stream.DeleteMsg(context.WithoutCancel(ctx), seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("dlq: letter %d was republished but not removed from %s; remove it with `worker dlq rm %d` or replay again: %w",
				seq, names.DLQStream, seq, err)
		}
	}
	return nil
}

// lettersText is "letter 7" or "letters 7, 8, 9".
func lettersText(msg []Entry) string {
	if len(msg) == 1 {
		return "letter " + strconv.FormatUint(msg[0].Seq, 10)
	}
	var b []byte
	b = append(b, "letters "...)
	for i, e := range msg {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendUint(b, e.Seq, 10)
	}
	return string(b)
}
