package dedup

import (
	"context"
	"time"
)

// Key is TikTok's own dedup key within one destination (event source): the event
// name and its event_id. A Purchase that shares its id with an earlier
// InitiateCheckout is another key. A Key with an empty Event covers every event name
// (receipts carried over from the first version's bucket have no name).
type Key struct {
	Event string
	ID    string
}

// Record is one request TikTok accepted: the sent log holds one per request.
type Record struct {
	Destination string
	AcceptedAt  time.Time
	RequestID   string // TikTok's request_id
	Events      []Key  // the events it accepted
}

// Entry is one place an event id is known as sent, for operators (worker trace).
type Entry struct {
	Event      string    // "" for a receipt carried over from the first version
	AcceptedAt time.Time //
	RequestID  string    //
	Seq        uint64    // the record's sequence in the sent log (0 where there is none)
}

// Store remembers what TikTok accepted, per destination. Sent is a local lookup (no
// round trip); Append writes one record per accepted request.
type Store interface {
	// Sent sets out[i] to whether keys[i] was already accepted for dest. It never
	// waits on the network. len(out) must be at least len(keys).
	Sent(dest string, keys []Key, out []bool)
	// Append records one accepted request and returns once the store has
	// acknowledged it; from then on Sent reports its keys on this replica.
	Append(ctx context.Context, rec Record) error
	// Lookup returns every record that holds id for dest, any event name, oldest
	// first. It is for operators and may make round trips.
	Lookup(ctx context.Context, dest, id string) ([]Entry, error)
}
