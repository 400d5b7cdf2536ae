package dedup

import (
	"encoding/binary"
	"hash/maphash"
)

// fingerprints maps TikTok's dedup key within the log — (destination, event name,
// event id) — to 64 bits. The seed is random per process: the index is rebuilt at
// every start, so fingerprints never leave the process, and an unlucky collision on
// one replica is not repeated on the next start or on another replica.
//
// Two different keys share a fingerprint with probability 2⁻⁶⁴; among n remembered
// keys the expected number of colliding pairs is about n²/2⁶⁵ (10⁻⁵ for 29 days of 10M
// events a day, 2.9·10⁸ keys), and a new key is mistaken for a sent one with
// probability n/2⁶⁴ (1.6·10⁻¹¹ per lookup at that size). Lookup reads the record
// itself, so an operator never sees a collision as an answer.
type fingerprints struct{ seed maphash.Seed }

func newFingerprints() fingerprints { return fingerprints{seed: maphash.MakeSeed()} }

// of returns the fingerprint of (dest, event, id); never 0, which marks an empty slot.
func (f fingerprints) of(dest, event, id string) uint64 {
	var h maphash.Hash
	h.SetSeed(f.seed)
	// Each part is preceded by its length, so ("ab","c") and ("a","bc") differ.
	var n [4]byte
	for _, s := range [3]string{dest, event, id} {
		binary.LittleEndian.PutUint32(n[:], uint32(len(s)))
		_, _ = h.Write(n[:])
		_, _ = h.WriteString(s)
	}
	if fp := h.Sum64(); fp != 0 {
		return fp
	}
	return 1
}
