package dedup

import (
	"sort"
	"time"
)

// ages knows, for the records the follower has read, how old they are, compactly:
// records are read in sequence order and the server stamps them in that order, so a
// mark (seq, at) says "every record up to seq is no newer than at". One mark is kept
// per granule of time (a minute by default: 41,760 marks, 650 KB, for 29 days), plus
// the newest record read. A record is forgotten once a mark at or after it is older
// than the retention: at most one granule later than its exact age, never earlier.
type ages struct {
	granule time.Duration
	marks   []mark
	start   int64 // when the newest mark's granule began
	last    mark  // the newest record read (seq 0: none yet)
}

type mark struct {
	seq uint64
	at  int64 // unix nanoseconds of the server's timestamp
}

// observe records that the record seq was stored at at. Calls come in sequence order.
func (a *ages) observe(seq uint64, at time.Time) {
	if seq <= a.last.seq {
		return
	}
	m := mark{seq: seq, at: at.UnixNano()}
	if n := len(a.marks); n == 0 || time.Duration(m.at-a.start) >= a.granule {
		a.marks = append(a.marks, m)
		a.start = m.at
	} else {
		a.marks[n-1] = m // the granule's newest record stands for it
	}
	a.last = m
}

// cutoff returns the first sequence that may still be live at now for retention: every
// record before it is older than retention.
func (a *ages) cutoff(now time.Time, retention time.Duration) uint64 {
	limit := now.Add(-retention).UnixNano()
	if a.last.seq != 0 && a.last.at <= limit {
		return a.last.seq + 1
	}
	// The last mark no newer than limit.
	i := sort.Search(len(a.marks), func(i int) bool { return a.marks[i].at > limit })
	if i == 0 {
		return 0
	}
	return a.marks[i-1].seq + 1
}

// forget drops the marks before cutoff, which no longer decide anything.
func (a *ages) forget(cutoff uint64) {
	i := sort.Search(len(a.marks), func(i int) bool { return a.marks[i].seq+1 >= cutoff })
	a.marks = append(a.marks[:0], a.marks[i:]...)
}
