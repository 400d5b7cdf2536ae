package dedup

import "math/bits"

// table is the sent log's index: an open-addressing hash table (linear probing) from
// a 64-bit fingerprint to a 32-bit value (the low bits of a record's sequence), held in
// two parallel slices, so one remembered event costs 12 bytes of slot divided by the
// load factor: between 15 (at the 0.8 maximum) and 22.5 bytes (just after growing
// by half). A Go map[uint64]uint32 costs about 40 bytes an entry at the same sizes.
//
// Fingerprint 0 marks an empty slot; keyOf never returns it. Deletion shifts the rest
// of the probe run back (no tombstones), so a table that forgets as much as it learns
// never fills with dead slots. A table is not safe for concurrent use: SentLog guards
// it with its lock.
type table struct {
	keys []uint64
	vals []uint32
	n    int
}

const (
	tableMinSlots = 1024
	// tableMaxLoad is the fill at which the table grows by tableGrowth: linear
	// probing's misses (the common lookup: an event not sent yet) cost about
	// (1 + 1/(1-α)²)/2 slots, 13 at 0.8, which is two or three cache lines.
	tableMaxLoad = 0.8
	tableGrowth  = 1.5
	// tableMinLoad is the fill below which shrink makes the table smaller.
	tableMinLoad = 0.3
)

func newTable(hint int) *table {
	t := &table{}
	t.resize(max(tableMinSlots, int(float64(hint)/tableMaxLoad)+1))
	return t
}

// home is the first slot of fp's probe run: the high bits of fp × len, which spreads
// fingerprints evenly over any table size (not only powers of two).
func (t *table) home(fp uint64) int {
	hi, _ := bits.Mul64(fp, uint64(len(t.keys)))
	return int(hi)
}

func (t *table) next(i int) int {
	if i++; i == len(t.keys) {
		return 0
	}
	return i
}

// get returns the value of fp.
func (t *table) get(fp uint64) (uint32, bool) {
	for i := t.home(fp); ; i = t.next(i) {
		switch t.keys[i] {
		case fp:
			return t.vals[i], true
		case 0:
			return 0, false
		}
	}
}

// put sets the value of fp and returns the one it replaces, if any.
func (t *table) put(fp uint64, v uint32) (old uint32, replaced bool) {
	if float64(t.n+1) > tableMaxLoad*float64(len(t.keys)) {
		t.resize(int(float64(len(t.keys)) * tableGrowth))
	}
	for i := t.home(fp); ; i = t.next(i) {
		switch t.keys[i] {
		case fp:
			old, t.vals[i] = t.vals[i], v
			return old, true
		case 0:
			t.keys[i], t.vals[i] = fp, v
			t.n++
			return 0, false
		}
	}
}

// deleteAt empties slot i and shifts back every later entry of the run that may
// move closer to its home, so that no lookup stops early at the hole.
func (t *table) deleteAt(i int) {
	size := len(t.keys)
	for j := t.next(i); t.keys[j] != 0; j = t.next(j) {
		h := t.home(t.keys[j])
		// The entry at j may fill the hole at i when i lies on its probe path h … j.
		if (j-h+size)%size >= (j-i+size)%size {
			t.keys[i], t.vals[i] = t.keys[j], t.vals[j]
			i = j
		}
	}
	t.keys[i], t.vals[i] = 0, 0
	t.n--
}

// sweep deletes the entries of slots [from, to) whose value dead reports and returns
// how many it deleted. Callers sweep a large table in ranges, letting lookups in
// between; an entry that moves across a range boundary meanwhile waits for the next
// sweep.
func (t *table) sweep(from, to int, dead func(uint32) bool) int {
	removed := 0
	for i := from; i < min(to, len(t.keys)); i++ {
		// deleteAt may shift a later entry into i: look at i again.
		for t.keys[i] != 0 && dead(t.vals[i]) {
			t.deleteAt(i)
			removed++
		}
	}
	return removed
}

// shrink makes a table left mostly empty by sweeps smaller, so that one that once
// held a peak does not keep its memory after the peak aged out.
func (t *table) shrink() {
	if len(t.keys) > tableMinSlots && float64(t.n) < tableMinLoad*float64(len(t.keys)) {
		t.resize(max(tableMinSlots, int(float64(t.n)/0.6)+1))
	}
}

// resize moves every entry into a table of size slots.
func (t *table) resize(size int) {
	keys, vals := t.keys, t.vals
	t.keys, t.vals = make([]uint64, size), make([]uint32, size)
	for i, fp := range keys {
		if fp == 0 {
			continue
		}
		j := t.home(fp)
		for t.keys[j] != 0 {
			j = t.next(j)
		}
		t.keys[j], t.vals[j] = fp, vals[i]
	}
}

// len is the number of entries.
func (t *table) len() int { return t.n }

// bytes is the memory the table holds.
func (t *table) bytes() int { return len(t.keys) * 12 }
