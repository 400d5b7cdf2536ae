package dedup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// ClaimState is what Claim found for one event id.
type ClaimState uint8

const (
	// Won: this owner holds the id and may send the event.
	Won ClaimState = iota
	// Sent: TikTok already accepted the event (a receipt exists): a duplicate.
	Sent
	// Held: another owner holds a live claim, so the event may be in flight there.
	// Hand the message back and look again later; never count it as a duplicate,
	// since the other owner may still fail to send it.
	Held
)

func (c ClaimState) String() string {
	switch c {
	case Won:
		return "won"
	case Sent:
		return "sent"
	case Held:
		return "held"
	}
	return "unknown"
}

// Claimer is a Store that can reserve event ids across replicas, so that two
// replicas holding copies of one event never both send it. Claims are leases: an
// owner that crashes loses its claims when the lease runs out (the crash window),
// and an owner that hands its messages back releases them at once.
type Claimer interface {
	LegacyStore
	// Claim reserves ids for owner until lease from now. One pipelined write per id
	// (a compare-and-set on the key's last sequence), plus one batch read for the
	// ids that already had a marker. An id owner already holds is Won again.
	Claim(ctx context.Context, dest, owner string, ids []string, lease time.Duration) ([]ClaimState, error)
	// Release drops owner's live claims on ids (receipts are never touched).
	Release(ctx context.Context, dest, owner string, ids []string) error
}

// claimValue is the marker of a claim. A receipt carries accepted_at instead.
type claimValue struct {
	ClaimedBy  string    `json:"claimed_by"`
	LeaseUntil time.Time `json:"lease_until"`
}

// markerKind tells a receipt from a claim by its value. Anything that is not a
// claim counts as a receipt: when in doubt, an event was sent.
func markerKind(data []byte) (claim claimValue, isClaim bool) {
	if !bytes.Contains(data, []byte(`"claimed_by"`)) {
		return claimValue{}, false
	}
	if err := json.Unmarshal(data, &claim); err != nil || claim.ClaimedBy == "" {
		return claimValue{}, false
	}
	return claim, true
}

// lastMsgs reads the last message of each subject in batches of up to 1,000 (a
// multi-subject direct get each). A subject with no message yields nothing. On a
// server without batch gets (before 2.11) or a stream without direct gets, a chunk
// falls back to single reads, 16 at once; each is still called one at a time.
func (s *kvStore) lastMsgs(ctx context.Context, subjects []string, each func(*jetstream.RawStreamMsg)) error {
	for start := 0; start < len(subjects); start += batchSize {
		chunk := subjects[start:min(start+batchSize, len(subjects))]
		err := s.lastMsgsBatch(ctx, chunk, each)
		// An old server answers a batch get it does not know with a bad-request
		// status; a stream without direct gets does not answer at all. Either way
		// nothing was read yet, so the chunk is read again singly.
		if errors.Is(err, jetstreamext.ErrBatchUnsupported) || errors.Is(err, nats.ErrNoResponders) {
			err = s.lastMsgsSingly(ctx, chunk, each)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *kvStore) lastMsgsBatch(ctx context.Context, chunk []string, each func(*jetstream.RawStreamMsg)) error {
	msgs, err := jetstreamext.GetLastMsgsFor(ctx, s.js, s.stream, chunk)
	if err != nil {
		return err
	}
	for m, err := range msgs {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			break
		}
		if err != nil {
			return err
		}
		each(m)
	}
	// The iterator also ends, silently, when the context ends before the
	// end-of-batch message: an incomplete answer must not read as "no marker".
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("batch get of %d keys did not complete: %w", len(chunk), err)
	}
	return nil
}

func (s *kvStore) lastMsgsSingly(ctx context.Context, chunk []string, each func(*jetstream.RawStreamMsg)) error {
	stream, err := s.js.Stream(ctx, s.stream)
	if err != nil {
		return fmt.Errorf("dedup bucket stream %s: %w", s.stream, err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, fallbackGets)
	)
	for _, subj := range chunk {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			m, err := stream.GetLastMsgForSubject(ctx, subj)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, jetstream.ErrMsgNotFound):
			case err != nil:
				errs = append(errs, err)
			default:
				each(m)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Claim implements Claimer.
func (s *kvStore) Claim(ctx context.Context, dest, owner string, ids []string, lease time.Duration) ([]ClaimState, error) {
	states := make([]ClaimState, len(ids))
	if len(ids) == 0 {
		return states, nil
	}
	if _, err := KVKey(dest, ""); err != nil {
		return nil, err
	}
	if owner == "" {
		return nil, errors.New("dedup claim: an owner is required")
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	_, ttl, err := s.handle(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	value, err := json.Marshal(claimValue{ClaimedBy: owner, LeaseUntil: now.Add(lease)})
	if err != nil {
		return nil, err
	}

	subjects, idx := s.subjectsOf(dest, ids)
	writes := make([]casWrite, len(subjects))
	for i, subj := range subjects {
		writes[i] = casWrite{subject: subj, cond: true, data: value}
	}
	set := func(subj string, st ClaimState) {
		for _, i := range idx[subj] {
			states[i] = st
		}
	}

	// Round 1: create the key where it has no marker at all (the common case).
	landed, err := s.publishEach(ctx, writes)
	if err != nil {
		return nil, fmt.Errorf("dedup claims for %s: %w", dest, err)
	}
	var conflicted []string
	for i, w := range writes {
		if !landed[i] {
			conflicted = append(conflicted, w.subject)
		}
	}
	if len(conflicted) == 0 {
		return states, nil
	}

	// Round 2: read what the others found, and take over what is stale (a deleted
	// marker, an expired receipt, a lapsed lease) with a compare-and-set on its
	// sequence, so that two owners cannot both take it.
	var retake []casWrite
	err = s.lastMsgs(ctx, conflicted, func(m *jetstream.RawStreamMsg) {
		if !s.live(m.Header.Get("KV-Operation"), m.Header.Get("Nats-Marker-Reason"), m.Time, ttl) {
			retake = append(retake, casWrite{subject: m.Subject, seq: m.Sequence, cond: true, data: value})
			return
		}
		c, isClaim := markerKind(m.Data)
		switch {
		case !isClaim:
			set(m.Subject, Sent)
		case c.ClaimedBy == owner:
			// Ours already (a redelivery to the same owner): renew the lease.
			retake = append(retake, casWrite{subject: m.Subject, seq: m.Sequence, cond: true, data: value})
		case now.Before(c.LeaseUntil):
			set(m.Subject, Held)
		default:
			retake = append(retake, casWrite{subject: m.Subject, seq: m.Sequence, cond: true, data: value})
		}
	})
	if err != nil {
		return nil, fmt.Errorf("dedup claims for %s: %w", dest, err)
	}
	landed, err = s.publishEach(ctx, retake)
	if err != nil {
		return nil, fmt.Errorf("dedup claims for %s: %w", dest, err)
	}
	for i, w := range retake {
		if !landed[i] {
			set(w.subject, Held) // another owner took it between our read and write
		}
	}
	return states, nil
}

// Release implements Claimer.
func (s *kvStore) Release(ctx context.Context, dest, owner string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := KVKey(dest, ""); err != nil {
		return err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	if _, _, err := s.handle(ctx); err != nil {
		return err
	}
	subjects, _ := s.subjectsOf(dest, ids)
	var dels []casWrite
	err := s.lastMsgs(ctx, subjects, func(m *jetstream.RawStreamMsg) {
		if m.Header.Get("KV-Operation") != "" {
			return
		}
		if c, isClaim := markerKind(m.Data); isClaim && c.ClaimedBy == owner {
			dels = append(dels, casWrite{subject: m.Subject, seq: m.Sequence, cond: true, del: true})
		}
	})
	if err == nil {
		// A conflict means the key changed since the read (a receipt, or another
		// owner's claim): nothing of ours is left to release.
		_, err = s.publishEach(ctx, dels)
	}
	if err != nil {
		return fmt.Errorf("releasing dedup claims for %s: %w", dest, err)
	}
	return nil
}
