package dedup

import "hash/maphash"

// fingerprints maps TikTok's dedup key within the log — (destination, event name,
// event id) — to 64 bits. The seeds are random per process: the index is rebuilt at
// every start, so fingerprints never leave the process, and an unlucky collision on
// one replica is not repeated on the next start or on another replica.
//
// A fingerprint is the id's hash mixed with a salt of (destination, event name), so
// that Sent hashes each id once for both of its lookups (the event's own key and the
// nameless one). With seeded hashes taken as random functions, two different keys
// share a fingerprint with probability 2⁻⁶⁴; among n remembered keys the expected
// number of colliding pairs is about n²/2⁶⁵ (10⁻⁵ for 29 days of 10M events a day,
// 2.9·10⁸ keys), and a new key is mistaken for a sent one with probability n/2⁶⁴
// (1.6·10⁻¹¹ per lookup at that size). Lookup reads the record itself, so an operator
// never sees a collision as an answer.
type fingerprints struct{ id, dest, event maphash.Seed }

func newFingerprints() fingerprints {
	return fingerprints{id: maphash.MakeSeed(), dest: maphash.MakeSeed(), event: maphash.MakeSeed()}
}

// of returns the fingerprint of (dest, event, id); never 0, which marks an empty slot.
func (f fingerprints) of(dest, event, id string) uint64 {
	return f.mix(f.idHash(id), f.destSalt(dest), event)
}

// destSalt and idHash are the parts of a fingerprint that a caller looking up many
// keys of one destination computes once.
func (f fingerprints) destSalt(dest string) uint64 {
	return maphash.String(f.dest, dest) * 0x9E3779B97F4A7C15
}

func (f fingerprints) idHash(id string) uint64 { return maphash.String(f.id, id) }

// mix combines the parts through a bijective finalizer (MurmurHash3's fmix64), so
// that fingerprints differ whenever the parts do.
func (f fingerprints) mix(idHash, destSalt uint64, event string) uint64 {
	h := idHash ^ destSalt ^ maphash.String(f.event, event)
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	if h == 0 {
		return 1
	}
	return h
}
