package dedup

import "context"

// SweepNow runs one sweep of aged-out entries at once and returns how many left.
func (s *SentLog) SweepNow() int { return s.sweepNow() }

// WaitRead returns once the follower has read n records, or ctx's error.
func (s *SentLog) WaitRead(ctx context.Context, n uint64) error { return s.waitRead(ctx, n) }
