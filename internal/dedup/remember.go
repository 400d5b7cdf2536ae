package dedup

import (
	"strings"
	"time"
)

// The index's bookkeeping: what enters it (rememberLocked), what is live (liveLocked,
// cutoffAt) and what leaves it (sweepNow). Callers hold s.mu as the names say.

// seqOf widens a 32-bit table value back to the record's sequence. Values are the low
// 32 bits of the sequence; every live record lies within 2³² records of the newest
// one (4 billion requests within a retention), so the difference recovers it.
func (s *SentLog) seqOf(v uint32) uint64 {
	return s.maxSeq - uint64(uint32(s.maxSeq)-v)
}

// rememberLocked puts keys of the record at seq for dest in the index. It keeps no
// string of keys (they may point into a message's buffer, see scanKeys). A key already
// held by a newer record keeps it (it is remembered as long as its newest record);
// the other record is kept for Lookup in earlier. s.mu must be held for writing.
func (s *SentLog) rememberLocked(dest string, keys []Key, seq uint64) {
	if seq > s.maxSeq {
		s.maxSeq = seq
	}
	names := s.events[dest]
	salt := s.fp.destSalt(dest)
	for _, k := range keys {
		if _, ok := names[k.Event]; !ok {
			names[strings.Clone(k.Event)] = struct{}{} // k may point into a message
		}
		fp := s.fp.mix(s.fp.idHash(k.ID), salt, k.Event)
		old, had := s.idx.put(fp, uint32(seq))
		if !had {
			continue
		}
		switch oldSeq := s.seqOf(old); {
		case oldSeq == seq:
		case oldSeq > seq:
			s.idx.put(fp, old)
			s.keepEarlier(fp, seq)
		default:
			s.keepEarlier(fp, oldSeq)
		}
	}
}

func (s *SentLog) keepEarlier(fp, seq uint64) {
	if s.nEarly >= maxEarlier {
		return
	}
	s.earlier[fp] = append(s.earlier[fp], seq)
	s.nEarly++
}

// cutoffAt is the first sequence still remembered at now: records before it are older
// than the retention (by the follower's marks) or were swept already.
func (s *SentLog) cutoffAt(now time.Time) uint64 {
	if s.retention <= 0 {
		return s.cutoff
	}
	return max(s.cutoff, s.ages.cutoff(now, s.retention))
}

// liveLocked reports whether fp is in the index with a record at or after cut.
func (s *SentLog) liveLocked(fp uint64, cut uint64) bool {
	v, ok := s.idx.get(fp)
	return ok && s.seqOf(v) >= cut
}

// sweepChunk is how many slots one step of a sweep looks at with the lock held
// (about a millisecond), so that Sent never waits long for a sweep.
const sweepChunk = 1 << 16

// sweepNow removes the entries whose record aged out, and returns how many. Sent
// already treats them as absent; the sweep gives their memory back.
func (s *SentLog) sweepNow() int {
	s.mu.Lock()
	cut := s.cutoffAt(s.now())
	if cut <= s.cutoff {
		s.mu.Unlock()
		return 0
	}
	s.cutoff = cut
	for fp, seqs := range s.earlier {
		kept := seqs[:0]
		for _, q := range seqs {
			if q >= cut {
				kept = append(kept, q)
			}
		}
		s.nEarly -= len(seqs) - len(kept)
		if len(kept) == 0 {
			delete(s.earlier, fp)
		} else {
			s.earlier[fp] = kept
		}
	}
	s.ages.forget(cut)
	size := len(s.idx.keys)
	s.mu.Unlock()

	dead := func(v uint32) bool { return s.seqOf(v) < cut }
	removed := 0
	for from := 0; from < size; from += sweepChunk {
		s.mu.Lock()
		if len(s.idx.keys) != size {
			s.mu.Unlock()
			break // the table grew meanwhile: the next sweep goes on
		}
		removed += s.idx.sweep(from, from+sweepChunk, dead)
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.idx.shrink()
	s.mu.Unlock()
	return removed
}

// sweeper runs sweepNow every s.sweep until Close.
func (s *SentLog) sweeper() {
	t := time.NewTicker(s.sweep)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if n := s.sweepNow(); n > 0 {
				s.log.Debug().Int("forgotten", n).Msg("sent log: entries older than the retention left the index")
			}
		}
	}
}
