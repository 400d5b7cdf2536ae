package tiktokclient

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is the one request limiter of a process, shared by every destination's
// client. The limit belongs to TikTok's app, not to this process, so a fleet of
// replicas adapts without coordination: additive increase after each success,
// multiplicative decrease (halving) when TikTok answers 40100, 40016 or 40133.
type Limiter struct {
	mu       sync.Mutex
	rl       *rate.Limiter
	max      float64
	cur      float64
	min      float64
	step     float64
	cooldown time.Duration
	lastDown time.Time
	now      func() time.Time
}

// NewLimiter allows rps requests per second at most (default 1,000 when rps ≤ 0).
func NewLimiter(rps float64) *Limiter {
	if rps <= 0 {
		rps = 1000
	}
	burst := int(math.Max(1, rps/50))
	return &Limiter{
		rl:       rate.NewLimiter(rate.Limit(rps), burst),
		max:      rps,
		cur:      rps,
		min:      math.Min(1, rps),
		step:     math.Max(rps/100, 0.1),
		cooldown: 500 * time.Millisecond,
		now:      time.Now,
	}
}

// Wait blocks until one request may go, or ctx is done.
func (l *Limiter) Wait(ctx context.Context) error { return l.rl.Wait(ctx) }

// Rate is the current allowed requests per second.
func (l *Limiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}

// Max is the configured ceiling.
func (l *Limiter) Max() float64 { return l.max }

// Throttled halves the rate. Answers to requests that were in flight together
// arrive together, so decreases closer than the cooldown count once.
func (l *Limiter) Throttled() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.lastDown.IsZero() && now.Sub(l.lastDown) < l.cooldown {
		return
	}
	l.lastDown = now
	l.cur = math.Max(l.min, l.cur/2)
	l.rl.SetLimit(rate.Limit(l.cur))
}

// Succeeded adds 1 % of the ceiling back, up to the ceiling.
func (l *Limiter) Succeeded() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur >= l.max {
		return
	}
	l.cur = math.Min(l.max, l.cur+l.step)
	l.rl.SetLimit(rate.Limit(l.cur))
}
