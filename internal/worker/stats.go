package worker

import (
	"sync"
	"sync/atomic"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
)

// Stats are a Worker's counters since it started.
type Stats struct {
	Destinations []DestinationStats // in the order of Options.Destinations
	Total        DestinationStats
}

// DestinationStats are one destination's counters. Rows are counted once, when the
// message that carries them is acked, so that
//
//	Received = Sent + Duplicates + Σ DeadLettered
//
// holds at every instant. A message handed back (NAK) is not counted until a later
// delivery settles it.
type DestinationStats struct {
	Name         string
	Received     int64            // rows of acked messages (a malformed message counts as one row)
	Sent         int64            // rows whose event TikTok accepted in the delivery that settled them
	SentEvents   int64            // events TikTok accepted (probes included); matches TikTok's count
	Duplicates   int64            // rows whose event was already sent, merged, or is a repeat row
	DeadLettered map[string]int64 // rows dead-lettered, by Dlq-Reason
	// MatchKeys counts accepted events carrying each match key, by the label of
	// MatchKeyNames: MatchKeys[k] / SentEvents is the key's coverage.
	MatchKeys   map[string]int64
	Messages    int64 // messages acked
	HandedBack  int64 // NAKs (pause, outage, shutdown, store failure)
	Requests    int64 // HTTP requests to TikTok, retries and bisection included
	Retries     int64 // retried attempts
	Batches     int64 // Send calls (requests before retries and bisection)
	FullBatches int64 // Send calls carrying BatchSize events
	State       State // the destination's state (the worst one in a total)
	Paused      bool
	PauseReason string
}

// DeadLetteredTotal is the sum over reasons.
func (s DestinationStats) DeadLetteredTotal() int64 {
	var n int64
	for _, v := range s.DeadLettered {
		n += v
	}
	return n
}

// Balanced reports whether the accounting identity holds.
func (s DestinationStats) Balanced() bool {
	return s.Received == s.Sent+s.Duplicates+s.DeadLetteredTotal()
}

// Add adds d's counters to s (a Paused d makes s paused, with both reasons), to total
// replicas or destinations. Nil maps of s are made.
func (s *DestinationStats) Add(d DestinationStats) {
	if s.DeadLettered == nil {
		s.DeadLettered = map[string]int64{}
	}
	if s.MatchKeys == nil {
		s.MatchKeys = map[string]int64{}
	}
	s.Received += d.Received
	s.Sent += d.Sent
	s.SentEvents += d.SentEvents
	s.Duplicates += d.Duplicates
	for k, v := range d.DeadLettered {
		s.DeadLettered[k] += v
	}
	for k, v := range d.MatchKeys {
		s.MatchKeys[k] += v
	}
	s.Messages += d.Messages
	s.HandedBack += d.HandedBack
	s.Requests += d.Requests
	s.Retries += d.Retries
	s.Batches += d.Batches
	s.FullBatches += d.FullBatches
	if d.State == Paused || (d.State == Retrying && s.State != Paused) {
		s.State = d.State
	}
	if d.Paused {
		s.Paused = true
		if s.PauseReason != "" {
			s.PauseReason += "; "
		}
		s.PauseReason += d.PauseReason
	}
}

// tally is the part of the counters that must move together for the accounting
// identity to hold in every snapshot: the core goroutine accumulates one per loop turn
// and publishes it under counters.mu.
type tally struct {
	received, sent, duplicates, messages int64
	deadLettered                         map[events.Reason]int64
}

func (t *tally) dead(r events.Reason) {
	if t.deadLettered == nil {
		t.deadLettered = map[events.Reason]int64{}
	}
	t.deadLettered[r]++
}

func (t *tally) empty() bool { return t.messages == 0 && t.received == 0 }

// counters are updated by a pipeline's goroutines and read by Stats.
type counters struct {
	mu      sync.Mutex
	settled tally

	sentEvents, handedBack           atomic.Int64
	requests, retries, batches, full atomic.Int64
	keys                             []atomic.Int64 // by index of matchKeyNames
}

func newCounters() *counters { return &counters{keys: make([]atomic.Int64, len(matchKeyNames))} }

// publish adds t to the settled counters and clears t, keeping its map.
func (c *counters) publish(t *tally) {
	c.mu.Lock()
	c.settled.received += t.received
	c.settled.sent += t.sent
	c.settled.duplicates += t.duplicates
	c.settled.messages += t.messages
	for r, v := range t.deadLettered {
		if c.settled.deadLettered == nil {
			c.settled.deadLettered = map[events.Reason]int64{}
		}
		c.settled.deadLettered[r] += v
	}
	c.mu.Unlock()
	dl := t.deadLettered
	clear(dl)
	*t = tally{deadLettered: dl}
}

func (c *counters) snapshot(name string) DestinationStats {
	d := DestinationStats{
		Name:         name,
		SentEvents:   c.sentEvents.Load(),
		DeadLettered: map[string]int64{},
		MatchKeys:    map[string]int64{},
		HandedBack:   c.handedBack.Load(),
		Requests:     c.requests.Load(),
		Retries:      c.retries.Load(),
		Batches:      c.batches.Load(),
		FullBatches:  c.full.Load(),
	}
	c.mu.Lock()
	d.Received, d.Sent, d.Duplicates, d.Messages = c.settled.received, c.settled.sent, c.settled.duplicates, c.settled.messages
	for r, v := range c.settled.deadLettered {
		d.DeadLettered[string(r)] = v
	}
	c.mu.Unlock()
	for i := range c.keys {
		d.MatchKeys[matchKeyNames[i]] = c.keys[i].Load()
	}
	return d
}
