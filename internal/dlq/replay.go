package dlq

import (
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
	Replayed int     // republished and removed from the DLQ (0 in a dry run)
	Skipped  int     // left in the DLQ: their destination is not consumed (see Consumed)
}

// ReplayOption configures Replay.
type ReplayOption func(*replayOptions)

type replayOptions struct {
	onEntry   func(Entry)
	onSkipped func(Entry, string)
	consumed  map[string]bool // nil: every well-formed destination
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

// OnReplayed calls fn after each letter was republished and removed from the DLQ
// (in a dry run: for each letter that would be), so a command can print progress.
func OnReplayed(fn func(Entry)) ReplayOption {
	return func(o *replayOptions) { o.onEntry = fn }
}

// ReplayMsgID is the Nats-Msg-Id of the republish of DLQ letter seq. A replay that
// was interrupted between its republish and the delete, and is then run again,
// publishes the same id, and the rows stream drops the repeat within its
// duplicates window; past the window the worker's event_id dedup still applies.
func ReplayMsgID(names broker.Names, seq uint64) string {
	return "dlq-replay-" + names.DLQStream + "-" + strconv.FormatUint(seq, 10)
}

// Replay republishes every letter matching f to <prefix>.rows.<destination>, byte for
// byte, and removes it from the DLQ by sequence only once the republish was
// acknowledged. Interrupting it (ctx) is safe at any point: a letter is either still
// in the DLQ, or in the rows stream, or both (and then the next replay republishes it
// under the same Nats-Msg-Id). It stops at the first error and reports what was done.
//
// Every reason replays, malformed_message included: the body goes back exactly as it
// came, so unless the operator fixed the publisher the worker dead-letters it again.
// Whether that is worth doing is the operator's call, made with --reason.
//
// A dry run lists what would be replayed and changes nothing.
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
	err := scan(ctx, js, names, f, func(e Entry) (bool, error) {
		if why := o.skipReason(names, e); why != "" {
			rep.Skipped++
			if o.onSkipped != nil {
				o.onSkipped(e, why)
			}
			return true, nil
		}
		if dryRun {
			rep.Entries = append(rep.Entries, e)
			if o.onEntry != nil {
				o.onEntry(e)
			}
			return true, nil
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
		m := nats.NewMsg(names.RowsSubject(e.Destination))
		m.Data = e.Body
		if _, err := js.PublishMsg(ctx, m, jetstream.WithMsgID(ReplayMsgID(names, e.Seq))); err != nil {
			return false, fmt.Errorf("dlq: republishing letter %d to %s (is the %s stream present? `worker run` creates it); it stays in the DLQ: %w",
				e.Seq, m.Subject, names.RowsStream, err)
		}
		// The republish is acknowledged: deleting now cannot lose the row. An
		// interruption here leaves it in both places, which the next replay's
		// Nats-Msg-Id (or the worker's event_id dedup) absorbs.
		if err := stream.DeleteMsg(context.WithoutCancel(ctx), e.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return false, fmt.Errorf("dlq: letter %d was republished but not removed from %s; remove it with `nats stream rmm %s %d` or replay again: %w",
				e.Seq, names.DLQStream, names.DLQStream, e.Seq, err)
		}
		rep.Entries = append(rep.Entries, e)
		rep.Replayed++
		if o.onEntry != nil {
			o.onEntry(e)
		}
		return true, nil
	})
	if err != nil {
		return rep, fmt.Errorf("dlq: replay stopped after %d letters: %w", rep.Replayed, err)
	}
	return rep, nil
}
