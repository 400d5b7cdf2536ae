package worker

import (
	"sync"
	"sync/atomic"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
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
	Messages     int64            // messages acked
	HandedBack   int64            // NAKs (pause, outage, shutdown, store failure)
	Requests     int64            // HTTP requests to TikTok, retries and bisection included
	Retries      int64            // retried attempts
	Batches      int64            // Send calls (requests before retries and bisection)
	FullBatches  int64            // Send calls carrying BatchSize events
	Paused       bool
	PauseReason  string
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
// replicas or destinations. s.DeadLettered must not be nil.
func (s *DestinationStats) Add(d DestinationStats) {
	s.Received += d.Received
	s.Sent += d.Sent
	s.SentEvents += d.SentEvents
	s.Duplicates += d.Duplicates
	for k, v := range d.DeadLettered {
		s.DeadLettered[k] += v
	}
	s.Messages += d.Messages
	s.HandedBack += d.HandedBack
	s.Requests += d.Requests
	s.Retries += d.Retries
	s.Batches += d.Batches
	s.FullBatches += d.FullBatches
	if d.Paused {
		s.Paused = true
		if s.PauseReason != "" {
			s.PauseReason += "; "
		}
		s.PauseReason += d.PauseReason
	}
}

// reasonIndex maps a Dlq-Reason to its counter slot.
var reasonIndex = func() map[string]int {
	m := map[string]int{}
	for i, r := range dlq.Reasons() {
		m[r] = i
	}
	return m
}()

const numReasons = 6

// tally is the part of the counters that must move together for the accounting
// identity to hold in every snapshot: the core goroutine accumulates one per loop turn
// and publishes it under counters.mu.
type tally struct {
	received, sent, duplicates, messages int64
	deadLettered                         [numReasons]int64
}

func (t *tally) empty() bool { return t.messages == 0 && t.received == 0 }

// counters are updated by a pipeline's goroutines and read by Stats.
type counters struct {
	mu      sync.Mutex
	settled tally

	sentEvents, handedBack           atomic.Int64
	requests, retries, batches, full atomic.Int64
}

// publish adds t to the settled counters and clears t.
func (c *counters) publish(t *tally) {
	c.mu.Lock()
	c.settled.received += t.received
	c.settled.sent += t.sent
	c.settled.duplicates += t.duplicates
	c.settled.messages += t.messages
	for i, v := range t.deadLettered {
		c.settled.deadLettered[i] += v
	}
	c.mu.Unlock()
	*t = tally{}
}

func (c *counters) snapshot(name string) DestinationStats {
	c.mu.Lock()
	t := c.settled
	c.mu.Unlock()
	d := DestinationStats{
		Name:         name,
		Received:     t.received,
		Sent:         t.sent,
		SentEvents:   c.sentEvents.Load(),
		Duplicates:   t.duplicates,
		DeadLettered: map[string]int64{},
		Messages:     t.messages,
		HandedBack:   c.handedBack.Load(),
		Requests:     c.requests.Load(),
		Retries:      c.retries.Load(),
		Batches:      c.batches.Load(),
		FullBatches:  c.full.Load(),
	}
	for i, r := range dlq.Reasons() {
		if v := t.deadLettered[i]; v > 0 {
			d.DeadLettered[r] = v
		}
	}
	return d
}
