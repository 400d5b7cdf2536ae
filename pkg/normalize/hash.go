package normalize

import (
	"bytes"
	"crypto/sha256"
	"slices"
)

const hexDigits = "0123456789abcdef"

// IsSHA256Hex reports whether v is already a SHA-256 digest: exactly 64 hex characters,
// in either case (^[0-9A-Fa-f]{64}$). Such values are passed through unhashed, lower-cased
// (see AppendDigest); this is the one place the rule is written.
func IsSHA256Hex(v []byte) bool {
	if len(v) != 64 {
		return false
	}
	for _, c := range v {
		if !('0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f') {
			return false
		}
	}
	return true
}

// AppendDigest appends the trimmed raw lower-cased and reports true when it is already
// a SHA-256 digest (IsSHA256Hex); otherwise it returns dst unchanged and false. Every
// hashed field (email, phone, external_id, names, address parts) passes a digest
// through this way, so a value hashed upstream in upper-case hex still matches.
func AppendDigest(dst, raw []byte) ([]byte, bool) {
	v := bytes.TrimSpace(raw)
	if !IsSHA256Hex(v) {
		return dst, false
	}
	for _, c := range v {
		if 'A' <= c && c <= 'F' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst, true
}

// AppendSHA256Hex appends the lower-case hex SHA-256 of v to dst. It allocates only
// when dst lacks 64 bytes of spare capacity.
func AppendSHA256Hex(dst, v []byte) []byte {
	sum := sha256.Sum256(v)
	n := len(dst)
	dst = slices.Grow(dst, 2*len(sum))[:n+2*len(sum)]
	out := dst[n:]
	for i, b := range sum {
		out[2*i] = hexDigits[b>>4]
		out[2*i+1] = hexDigits[b&0x0f]
	}
	return dst
}

// AppendHashedExternalID appends the SHA-256 hex of the trimmed id, or the digest
// itself (lower-cased) when it is already one.
func AppendHashedExternalID(dst, raw []byte) ([]byte, error) {
	if out, ok := AppendDigest(dst, raw); ok {
		return out, nil
	}
	v := bytes.TrimSpace(raw)
	if len(v) == 0 {
		return dst, fieldErr("external_id", "is blank")
	}
	return AppendSHA256Hex(dst, v), nil
}

// HashExternalID is the string form of AppendHashedExternalID, for callers off the
// hot path.
func HashExternalID(raw string) (string, error) {
	var buf [64]byte
	out, err := AppendHashedExternalID(buf[:0], []byte(raw))
	return string(out), err
}
