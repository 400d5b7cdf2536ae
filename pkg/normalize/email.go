package normalize

import (
	"bytes"
	"unicode"
	"unicode/utf8"
)

// maxEmailStack is the longest normalized address hashed from a stack buffer: RFC 3696
// allows 64 + 1 + 255 bytes. Longer input still works, through one heap allocation.
const maxEmailStack = 320

// AppendEmail appends the normalized address to dst: surrounding white space trimmed,
// letters lower-cased (ASCII fast, other scripts by Unicode rules). The address must
// have exactly one @, a non-empty part before it, and a domain with a dot whose labels
// are all non-empty; white space and control characters inside are refused. On error
// dst is returned unchanged.
func AppendEmail(dst, raw []byte) ([]byte, error) {
	v := bytes.TrimSpace(raw)
	if len(v) == 0 {
		return dst, fieldErr("email", "is blank")
	}
	at := -1
	ascii := true
	for i, c := range v {
		switch {
		case c == '@':
			if at >= 0 {
				return dst, fieldErr("email", "is not an e-mail address (it has more than one @)")
			}
			at = i
		case c <= ' ' || c == 0x7f:
			return dst, fieldErr("email", "is not an e-mail address (it contains white space or a control character)")
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if at < 0 {
		return dst, fieldErr("email", "is not an e-mail address (it has no @)")
	}
	if at == 0 {
		return dst, fieldErr("email", "is not an e-mail address (nothing before the @)")
	}
	if err := checkDomain(v[at+1:]); err != nil {
		return dst, err
	}
	if ascii {
		for _, c := range v {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		}
		return dst, nil
	}
	// Non-ASCII: validate every rune before appending anything, so that an error
	// leaves dst untouched.
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRune(v[i:])
		if r == utf8.RuneError && size <= 1 {
			return dst, fieldErr("email", "is not valid UTF-8 text")
		}
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return dst, fieldErr("email", "is not an e-mail address (it contains white space or a control character)")
		}
		i += size
	}
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRune(v[i:])
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
		i += size
	}
	return dst, nil
}

// checkDomain wants at least two dot-separated labels, none of them empty.
func checkDomain(d []byte) error {
	if len(d) == 0 {
		return fieldErr("email", "is not an e-mail address (nothing after the @)")
	}
	dots := 0
	prev := byte('.') // a leading dot is an empty label
	for _, c := range d {
		if c == '.' {
			if prev == '.' {
				return fieldErr("email", "is not an e-mail address (the domain has an empty part between dots)")
			}
			dots++
		}
		prev = c
	}
	if dots == 0 {
		return fieldErr("email", "is not an e-mail address (the domain has no dot)")
	}
	if prev == '.' {
		return fieldErr("email", "is not an e-mail address (the domain ends with a dot)")
	}
	return nil
}

// AppendHashedEmail appends the SHA-256 hex of the normalized address, or the digest
// itself (lower-cased) when it is already one (see AppendDigest).
func AppendHashedEmail(dst, raw []byte) ([]byte, error) {
	if out, ok := AppendDigest(dst, raw); ok {
		return out, nil
	}
	v := bytes.TrimSpace(raw)
	// The address is built on the stack; append moves it to the heap only for the
	// rare address longer than maxEmailStack.
	var buf [maxEmailStack]byte
	n, err := AppendEmail(buf[:0], v)
	if err != nil {
		return dst, err
	}
	return AppendSHA256Hex(dst, n), nil
}

// Email is the string form of AppendEmail, for callers off the hot path.
func Email(raw string) (string, error) {
	out, err := AppendEmail(nil, []byte(raw))
	return string(out), err
}

// HashEmail is the string form of AppendHashedEmail, for callers off the hot path.
func HashEmail(raw string) (string, error) {
	var buf [64]byte
	out, err := AppendHashedEmail(buf[:0], []byte(raw))
	return string(out), err
}
