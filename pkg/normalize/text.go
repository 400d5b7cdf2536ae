package normalize

import (
	"bytes"
	"unicode"
	"unicode/utf8"
)

// maxTextStack is the longest normalized name or address part hashed from a stack
// buffer; longer input still works, through one heap allocation.
const maxTextStack = 256

// appendFolded appends v lower-cased (ASCII fast, other scripts by Unicode rules) with
// runs of white space inside collapsed to one space. v must be trimmed and non-empty;
// invalid UTF-8 and control characters are refused for field. On error dst is returned
// unchanged.
func appendFolded(field string, dst, v []byte) ([]byte, error) {
	start := len(dst)
	space := false
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == ' ' || c == '\t' || c == '\n' || c == '\r':
				space = true
				continue
			case c < ' ' || c == 0x7f:
				return dst[:start], fieldErr(field, "contains a control character")
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			}
			if space {
				dst = append(dst, ' ')
				space = false
			}
			dst = append(dst, c)
			continue
		}
		r, size := utf8.DecodeRune(v[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1:
			return dst[:start], fieldErr(field, "is not valid UTF-8 text")
		case unicode.IsSpace(r):
			space = true
			continue
		case unicode.IsControl(r):
			return dst[:start], fieldErr(field, "contains a control character")
		}
		if space {
			dst = append(dst, ' ')
			space = false
		}
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
	}
	return dst, nil
}

// appendHashedText is the hashed form shared by names and cities: a digest passes
// through (AppendDigest), anything else is trimmed, folded (appendFolded) and hashed.
func appendHashedText(field string, dst, raw []byte) ([]byte, error) {
	if out, ok := AppendDigest(dst, raw); ok {
		return out, nil
	}
	v := bytes.TrimSpace(raw)
	if len(v) == 0 {
		return dst, fieldErr(field, "is blank")
	}
	var buf [maxTextStack]byte
	n, err := appendFolded(field, buf[:0], v)
	if err != nil {
		return dst, err
	}
	return AppendSHA256Hex(dst, n), nil
}

// AppendName appends a first or last name normalized for matching: trimmed,
// lower-cased, inner white space collapsed to one space. field ("first_name" or
// "last_name") names the column in the error.
func AppendName(field string, dst, raw []byte) ([]byte, error) {
	v := bytes.TrimSpace(raw)
	if len(v) == 0 {
		return dst, fieldErr(field, "is blank")
	}
	return appendFolded(field, dst, v)
}

// AppendHashedName appends the SHA-256 hex of AppendName's form, or the digest itself
// (lower-cased) when raw already is one.
func AppendHashedName(field string, dst, raw []byte) ([]byte, error) {
	return appendHashedText(field, dst, raw)
}

// AppendCity appends a city normalized like a name (trimmed, lower-cased).
func AppendCity(dst, raw []byte) ([]byte, error) { return AppendName("city", dst, raw) }

// AppendHashedCity appends the SHA-256 hex of AppendCity's form, or the digest itself.
func AppendHashedCity(dst, raw []byte) ([]byte, error) {
	return appendHashedText("city", dst, raw)
}
