package dedup

import (
	"context"
	"time"
)

// Receipt is what the store keeps for an accepted event: where it went.
type Receipt struct {
	EventID    string    `json:"-"`
	AcceptedAt time.Time `json:"accepted_at"`
	RequestID  string    `json:"request_id"`
}

// LegacyStore is the per-event-marker store of the first version (NewKV). It is
// being replaced by Store, the sent log (issue 8), and goes once the worker uses Store.
type LegacyStore interface {
	// Seen reports, for each id, whether it was already accepted for destination dest.
	Seen(ctx context.Context, dest string, ids []string) ([]bool, error)
	// Mark records receipts for dest and returns once the store has acknowledged all
	// of them (writes are pipelined, not one round trip each).
	Mark(ctx context.Context, dest string, receipts []Receipt) error
	// Lookup returns the receipt of one event id, for operators.
	Lookup(ctx context.Context, dest, id string) (Receipt, bool, error)
}
