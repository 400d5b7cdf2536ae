package dedup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// measure counts the records to catch up on (for Ready's progress) and finds the
// sequence of the newest one (caught up once it is read).
func (s *SentLog) measure(ctx context.Context, subjects []string) error {
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(s.names.SentFilter()))
	if err != nil {
		return fmt.Errorf("sent log stream %s: %w", s.names.SentStream, err)
	}
	for _, subj := range subjects {
		s.total += info.State.Subjects[subj]
	}
	if s.target, err = s.newest(ctx, subjects); err != nil {
		return err
	}
	if s.target == 0 {
		s.markCaughtUp()
	}
	return nil
}

// follow reads the served subjects from the start with an ordered consumer (no state on
// the server, recreated by the client after a disconnect, never out of order) and
// keeps reading what other replicas append.
func (s *SentLog) follow(ctx context.Context, subjects []string) error {
	oc, err := s.js.OrderedConsumer(ctx, s.names.SentStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: subjects,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("sent log stream %s: following it: %w", s.names.SentStream, err)
	}
	cc, err := oc.Consume(s.handle, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		s.log.Warn().Err(err).Str("stream", s.names.SentStream).Msg("sent log: following the log (the client retries)")
	}))
	if err != nil {
		return fmt.Errorf("sent log stream %s: following it: %w", s.names.SentStream, err)
	}
	s.cc = cc
	return nil
}

// handle puts one record read from the log into the index.
func (s *SentLog) handle(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		s.log.Warn().Err(err).Msg("sent log: a message without metadata: skipped")
		return
	}
	seq := md.Sequence.Stream
	dest := strings.TrimPrefix(m.Subject(), s.names.Prefix+".sent.")
	keys, ok := scanKeys(m.Data(), s.scratch[:0])
	if !ok {
		var rec Record
		rec, err = decodeRecord(dest, m.Data())
		keys = rec.Events
	}
	s.mu.Lock()
	if err == nil {
		s.rememberLocked(dest, keys, seq)
	}
	s.ages.observe(seq, md.Timestamp)
	s.mu.Unlock()
	if err != nil {
		// The error names the JSON problem, never an event id.
		s.log.Warn().Err(err).Uint64("seq", seq).Str("destination", dest).
			Msgf("sent log: record %d is not a record: skipped (its events are not known as sent)", seq)
	}
	if ok {
		s.scratch = keys[:0] // reused by the next record: handle runs on one goroutine
	}
	s.read.Add(1)
	s.readMu.Lock()
	close(s.readCh)
	s.readCh = make(chan struct{})
	s.readMu.Unlock()
	if seq >= s.target || md.NumPending == 0 {
		s.markCaughtUp()
	}
}

// watchCatchUp covers the one case the follower cannot see: the records it was to
// catch up on aged out (or were purged) before it read them, so that no message ever
// arrives to say so. Until caught up, it asks the stream every s.watch for the newest
// record of the served subjects, and declares the catch-up done once the follower has
// read it or there is none.
func (s *SentLog) watchCatchUp(subjects []string) {
	t := time.NewTicker(s.watch)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.caughtUp:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.watch)
		newest, err := s.newest(ctx, subjects)
		cancel()
		if err != nil {
			continue // the next tick asks again; the follower may well get there first
		}
		s.mu.RLock()
		read := s.ages.last.seq
		s.mu.RUnlock()
		if newest == 0 || newest <= read {
			s.markCaughtUp()
		}
	}
}

// newest is the sequence of the newest record on subjects (0: none).
func (s *SentLog) newest(ctx context.Context, subjects []string) (uint64, error) {
	var newest uint64
	for _, subj := range subjects {
		m, err := s.stream.GetLastMsgForSubject(ctx, subj)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
		case err != nil:
			return 0, fmt.Errorf("sent log stream %s: the newest record on %s: %w", s.names.SentStream, subj, err)
		default:
			newest = max(newest, m.Sequence)
		}
	}
	return newest, nil
}

func (s *SentLog) markCaughtUp() {
	s.upOnce.Do(func() {
		close(s.caughtUp)
		events, _ := s.Remembered()
		s.log.Info().Uint64("records", s.read.Load()).Int("events", events).
			Msgf("sent log caught up: %s records", thousands(s.read.Load()))
	})
}

// waitRead returns once the follower has read n records, or ctx's error.
func (s *SentLog) waitRead(ctx context.Context, n uint64) error {
	for {
		s.readMu.Lock()
		ch := s.readCh
		s.readMu.Unlock()
		if s.read.Load() >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("sent log: %d of %d records read: %w", s.read.Load(), n, ctx.Err())
		}
	}
}
