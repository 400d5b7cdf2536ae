package dedup

import (
	"context"
	"sync"
)

// Memory is a Store that lives in one process and forgets everything on exit. It is
// for tests and single-process tools that need the Store contract without NATS; the
// worker in production uses the sent log.
type Memory struct {
	mu      sync.RWMutex
	records []Record
	sent    map[memKey][]int // → indexes into records
}

type memKey struct{ dest, event, id string }

// NewMemory returns an empty in-memory Store.
func NewMemory() *Memory { return &Memory{sent: map[memKey][]int{}} }

// Sent implements Store.
func (m *Memory) Sent(dest string, keys []Key, out []bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for i, k := range keys {
		_, named := m.sent[memKey{dest, k.Event, k.ID}]
		_, any := m.sent[memKey{dest, "", k.ID}]
		out[i] = named || any
	}
}

// Append implements Store.
func (m *Memory) Append(ctx context.Context, rec Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rec.Events = append([]Key(nil), rec.Events...)
	m.records = append(m.records, rec)
	for _, k := range rec.Events {
		mk := memKey{rec.Destination, k.Event, k.ID}
		m.sent[mk] = append(m.sent[mk], len(m.records)-1)
	}
	return nil
}

// Lookup implements Store.
func (m *Memory) Lookup(ctx context.Context, dest, id string) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Entry
	for i, r := range m.records {
		if r.Destination != dest {
			continue
		}
		for _, k := range r.Events {
			if k.ID == id {
				out = append(out, Entry{Event: k.Event, AcceptedAt: r.AcceptedAt, RequestID: r.RequestID, Seq: uint64(i + 1)})
			}
		}
	}
	return out, nil
}
