package main

// fingerprints is a set of 64-bit fingerprints (of an event's name and event_id) that
// preview keeps for every event it output: open addressing with linear probing in a
// power-of-two table, 8 bytes a slot. A map[uint64]struct{} pads each slot to 16
// bytes; at 1,000,000 events that alone would break preview's 64 MB.
type fingerprints struct {
	slots []uint64 // 0: empty
	n     int
}

// add puts fp in the set and reports whether it was not there yet.
func (s *fingerprints) add(fp uint64) bool {
	if fp == 0 {
		fp = 1 // 0 marks an empty slot
	}
	if s.n >= len(s.slots)/4*3 {
		s.grow()
	}
	if !s.insert(fp) {
		return false
	}
	s.n++
	return true
}

func (s *fingerprints) insert(fp uint64) bool {
	mask := uint64(len(s.slots) - 1)
	for i := fp & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case 0:
			s.slots[i] = fp
			return true
		case fp:
			return false
		}
	}
}

func (s *fingerprints) grow() {
	old := s.slots
	s.slots = make([]uint64, max(2*len(old), 1024))
	for _, fp := range old {
		if fp != 0 {
			s.insert(fp)
		}
	}
}
