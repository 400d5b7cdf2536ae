package dlq

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
)

// Found is what Find saw: the letters of each id asked for, and how much of the DLQ
// it read.
type Found struct {
	Letters  map[string][]Entry // event id → its letters, oldest first
	Scanned  int                // letters of the destination read
	Complete bool               // false when older letters exist that the bound left unread
}

// Find looks for the letters of dest whose body's event_id is one of ids, among the
// newest letters of the DLQ stream: it reads the destination's subject (the server
// skips other destinations) from stream sequence last−newest+1 on, so it reads at most
// newest letters however large the DLQ is (newest ≤ 0: the whole stream). Read-only.
func Find(ctx context.Context, js jetstream.JetStream, names broker.Names, dest string, ids []string, newest int) (Found, error) {
	out := Found{Letters: map[string][]Entry{}, Complete: true}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	stream, err := js.Stream(ctx, names.DLQStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return out, nil // nothing was ever dead-lettered here
	}
	if err != nil {
		return out, fmt.Errorf("dlq: looking up stream %s: %w", names.DLQStream, err)
	}
	st := stream.CachedInfo().State
	f := Filter{Destination: dest}
	if newest > 0 && st.LastSeq >= uint64(newest) && st.LastSeq-uint64(newest)+1 > st.FirstSeq {
		f.FromSeq = st.LastSeq - uint64(newest) + 1
		out.Complete = false
	}
	err = scan(ctx, js, names, f, func(e Entry) (bool, error) {
		out.Scanned++
		if want[e.EventID] {
			out.Letters[e.EventID] = append(out.Letters[e.EventID], e)
		}
		return true, nil
	})
	return out, err
}
