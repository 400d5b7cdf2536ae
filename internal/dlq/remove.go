package dlq

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
)

// RemoveReport says what Remove did (or, in a dry run, would do).
type RemoveReport struct {
	DryRun  bool
	Entries []Entry // removed (or to remove) letters, oldest first
	Removed int     // deleted from the DLQ stream (0 in a dry run)
}

// Remove deletes every letter matching f from the DLQ, one by one by stream sequence,
// for letters that cannot be fixed. onRemoved (may be nil) is called after each
// delete, or for each letter a dry run would delete. A letter already gone (a
// concurrent replay or rm took it) counts as removed. It stops at the first error.
func Remove(ctx context.Context, js jetstream.JetStream, names broker.Names, f Filter, dryRun bool, onRemoved func(Entry)) (RemoveReport, error) {
	rep := RemoveReport{DryRun: dryRun}
	stream, err := js.Stream(ctx, names.DLQStream)
	if err != nil {
		return rep, fmt.Errorf("dlq: looking up stream %s: %w", names.DLQStream, err)
	}
	err = scan(ctx, js, names, f, func(e Entry) (bool, error) {
		return true, remove(ctx, stream, names, e, dryRun, &rep, onRemoved)
	})
	if err != nil {
		return rep, fmt.Errorf("dlq: rm stopped after %d letters: %w", rep.Removed, err)
	}
	return rep, nil
}

// RemoveSeqs deletes the letters with the given DLQ sequences (as `dlq ls` shows
// them). A sequence that holds no letter is an error naming it; the others are still
// removed.
func RemoveSeqs(ctx context.Context, js jetstream.JetStream, names broker.Names, seqs []uint64, dryRun bool, onRemoved func(Entry)) (RemoveReport, error) {
	rep := RemoveReport{DryRun: dryRun}
	stream, err := js.Stream(ctx, names.DLQStream)
	if err != nil {
		return rep, fmt.Errorf("dlq: looking up stream %s: %w", names.DLQStream, err)
	}
	var errs []error
	for _, seq := range seqs {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				errs = append(errs, fmt.Errorf("letter %d: not in %s (removed or replayed already?)", seq, names.DLQStream))
				continue
			}
			return rep, fmt.Errorf("dlq: reading letter %d: %w", seq, err)
		}
		e := entryOf(names, m.Sequence, m.Subject, m.Header, m.Data, m.Time)
		if err := remove(ctx, stream, names, e, dryRun, &rep, onRemoved); err != nil {
			return rep, err
		}
	}
	if len(errs) > 0 {
		return rep, fmt.Errorf("dlq: %w", errors.Join(errs...))
	}
	return rep, nil
}

func remove(ctx context.Context, stream jetstream.Stream, names broker.Names, e Entry, dryRun bool, rep *RemoveReport, onRemoved func(Entry)) error {
	if !dryRun {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := stream.DeleteMsg(ctx, e.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("removing letter %d from %s: %w", e.Seq, names.DLQStream, err)
		}
		rep.Removed++
	}
	rep.Entries = append(rep.Entries, e)
	if onRemoved != nil {
		onRemoved(e)
	}
	return nil
}
