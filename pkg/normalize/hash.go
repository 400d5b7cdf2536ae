package normalize

import (
	"bytes"
	"crypto/sha256"
	"slices"
)

const hexDigits = "0123456789abcdef"

// IsSHA256Hex reports whether v is already a SHA-256 digest: exactly 64 lower-case hex
// characters. Such values are passed through unhashed.
func IsSHA256Hex(v []byte) bool {
	if len(v) != 64 {
		return false
	}
	for _, c := range v {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
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

// AppendHashedExternalID appends the SHA-256 hex of the trimmed id, or the trimmed id
// itself when it is already a digest.
func AppendHashedExternalID(dst, raw []byte) ([]byte, error) {
	v := bytes.TrimSpace(raw)
	if len(v) == 0 {
		return dst, fieldErr("external_id", "is blank")
	}
	if IsSHA256Hex(v) {
		return append(dst, v...), nil
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
