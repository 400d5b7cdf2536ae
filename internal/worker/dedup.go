package worker

import (
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
)

// copies keeps, per dedup key (event name and id), the one event of it this replica
// may have queued or in flight: a copy in another message waits behind it as a
// follower and becomes a duplicate when it is accepted, so this replica never sends
// an event twice. An accepted leader stays until every later sent-log lookup sees its
// record (the purge queue, by append epoch). Owned by the core goroutine.
type copies struct {
	leaders   map[dedup.Key]*leader
	purgeQ    []purgeEntry
	purgeHead int
}

// leader is the pending event of one key; followers are its copies.
type leader struct {
	key       dedup.Key
	ref       evRef
	followers []evRef
	accepted  bool // accepted; kept until every later lookup sees its record
}

type purgeEntry struct {
	l     *leader
	epoch uint64
}

func newCopies(size int) copies { return copies{leaders: make(map[dedup.Key]*leader, size)} }

// admitEvents sorts m's events: already in the sent log or accepted here → duplicate;
// a copy of a pending event → follower; else a new leader, queued for a batch.
func (p *pipeline) admitEvents(m *inMsg) {
	m.dup += len(m.res.Duplicates)
	for i := range m.res.Events {
		ref := evRef{m: m, i: i}
		st := ref.status()
		if *st == evSeen {
			*st = evDup
			m.dup += len(ref.event().Rows)
			continue
		}
		k := ref.key()
		if l, ok := p.copies.leaders[k]; ok {
			if l.accepted {
				*st = evDup
				m.dup += len(ref.event().Rows)
				continue
			}
			*st = evFollower
			m.open++
			l.followers = append(l.followers, ref)
			continue
		}
		p.copies.leaders[k] = &leader{key: k, ref: ref}
		*st = evQueued
		m.open++
		p.enqueue(ref)
	}
}

// accepted settles a leader TikTok accepted: its followers become duplicates. It
// stays (accepted) until its record is acknowledged and every later lookup sees it.
func (p *pipeline) acceptLeader(l *leader) {
	l.accepted = true
	l.ref = evRef{}
	for _, f := range l.followers {
		*f.status() = evDup
		f.m.dup += len(f.event().Rows)
		f.m.open--
		p.check(f.m)
	}
	clear(l.followers)
	l.followers = l.followers[:0]
}

// promote hands a rejected leader's key to its first follower, which is sent in turn
// (it may carry different content under the same key).
func (p *pipeline) promote(l *leader) {
	if l == nil {
		return
	}
	if len(l.followers) == 0 {
		delete(p.copies.leaders, l.key)
		return
	}
	f := l.followers[0]
	copy(l.followers, l.followers[1:])
	l.followers[len(l.followers)-1] = evRef{}
	l.followers = l.followers[:len(l.followers)-1]
	l.ref = f
	if hb := p.notDelivering(); hb != hbNone {
		*f.status() = evUnsettled
		f.m.raise(hb)
		p.dropLeader(l, hb)
		f.m.open--
		p.check(f.m)
		return
	}
	*f.status() = evQueued
	p.enqueue(f)
}

// dropLeader forgets a leader whose event is unsettled; its followers go back with it.
func (p *pipeline) dropLeader(l *leader, kind handBack) {
	if l == nil {
		return
	}
	if p.copies.leaders[l.key] == l {
		delete(p.copies.leaders, l.key)
	}
	hb := hbPaused
	if kind == hbRelease {
		hb = hbRelease
	}
	for _, f := range l.followers {
		*f.status() = evUnsettled
		f.m.raise(hb)
		f.m.open--
		p.check(f.m)
	}
	clear(l.followers)
	l.followers = nil
}

// recorded queues accepted leaders for removal once a lookup made after their
// record's acknowledgement (epoch) has been admitted; a record that failed forgets
// them at once (a copy is then sent again, and TikTok drops the repeat).
func (c *copies) recorded(ls []*leader, epoch uint64, ok bool) {
	for _, l := range ls {
		if ok {
			c.purgeQ = append(c.purgeQ, purgeEntry{l: l, epoch: epoch})
		} else if c.leaders[l.key] == l {
			delete(c.leaders, l.key)
		}
	}
}

// purge forgets accepted leaders whose records every lookup from epoch on sees.
func (c *copies) purge(epoch uint64) {
	for c.purgeHead < len(c.purgeQ) && c.purgeQ[c.purgeHead].epoch <= epoch {
		e := c.purgeQ[c.purgeHead]
		if c.leaders[e.l.key] == e.l {
			delete(c.leaders, e.l.key)
		}
		c.purgeQ[c.purgeHead] = purgeEntry{}
		c.purgeHead++
	}
	if c.purgeHead == len(c.purgeQ) {
		c.purgeQ, c.purgeHead = c.purgeQ[:0], 0
	} else if c.purgeHead > 1024 && c.purgeHead > len(c.purgeQ)/2 {
		n := copy(c.purgeQ, c.purgeQ[c.purgeHead:])
		clear(c.purgeQ[n:])
		c.purgeQ, c.purgeHead = c.purgeQ[:n], 0
	}
}
