package normalize

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// FieldError says which input field was wrong and why, without its value.
type FieldError struct {
	Field string // the input column, e.g. "email"
	Msg   string // plain words, e.g. "is not an e-mail address (no @)"
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, msg string) error { return &FieldError{Field: field, Msg: msg} }

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

// AppendSHA256Hex appends the lower-case hex SHA-256 of v to dst.
func AppendSHA256Hex(dst, v []byte) []byte {
	sum := sha256.Sum256(v)
	return hex.AppendEncode(dst, sum[:])
}

// AppendEmail appends the normalized (trimmed, lower-cased) address to dst.
// TODO(normalize): placeholder implementation.
func AppendEmail(dst, raw []byte) ([]byte, error) {
	v := bytes.TrimSpace(raw)
	if bytes.Count(v, []byte("@")) != 1 {
		return dst, fieldErr("email", "is not an e-mail address (it needs exactly one @)")
	}
	return append(dst, bytes.ToLower(v)...), nil
}

// AppendHashedEmail appends the SHA-256 hex of the normalized address, or raw itself
// when it is already a digest.
func AppendHashedEmail(dst, raw []byte) ([]byte, error) {
	if IsSHA256Hex(raw) {
		return append(dst, raw...), nil
	}
	var buf [256]byte
	n, err := AppendEmail(buf[:0], raw)
	if err != nil {
		return dst, err
	}
	return AppendSHA256Hex(dst, n), nil
}

// Phone normalizes phone numbers to E.164 for one default region.
type Phone struct {
	region string
}

// NewPhone returns a normalizer whose numbers without a country code belong to region
// (an ISO 3166-1 alpha-2 code such as "US").
func NewPhone(region string) (*Phone, error) {
	if phonenumbers.GetCountryCodeForRegion(region) == 0 {
		return nil, fmt.Errorf("phone_region %q is not a region phonenumbers knows; use an ISO 3166-1 code such as US or GB", region)
	}
	return &Phone{region: region}, nil
}

// AppendE164 appends the E.164 form (with the +) of raw to dst.
// TODO(normalize): placeholder implementation without the fast path.
func (p *Phone) AppendE164(dst, raw []byte) ([]byte, error) {
	num, err := phonenumbers.Parse(string(raw), p.region)
	if err != nil {
		return dst, fieldErr("phone", "is not a phone number")
	}
	if !phonenumbers.IsPossibleNumber(num) {
		return dst, fieldErr("phone", "is not a possible phone number (wrong length)")
	}
	return append(dst, phonenumbers.Format(num, phonenumbers.E164)...), nil
}

// AppendHashed appends the SHA-256 hex of the E.164 number, or raw itself when it is
// already a digest.
func (p *Phone) AppendHashed(dst, raw []byte) ([]byte, error) {
	if IsSHA256Hex(raw) {
		return append(dst, raw...), nil
	}
	var buf [32]byte
	n, err := p.AppendE164(buf[:0], raw)
	if err != nil {
		return dst, err
	}
	return AppendSHA256Hex(dst, n), nil
}

// AppendHashedExternalID appends the SHA-256 hex of the trimmed id, or raw itself when
// it is already a digest.
func AppendHashedExternalID(dst, raw []byte) ([]byte, error) {
	if IsSHA256Hex(raw) {
		return append(dst, raw...), nil
	}
	v := bytes.TrimSpace(raw)
	if len(v) == 0 {
		return dst, fieldErr("external_id", "is blank")
	}
	return AppendSHA256Hex(dst, v), nil
}

// ParseTimestamp reads ISO 8601 (with or without a zone; none means UTC), Unix seconds
// or Unix milliseconds (values above 1e11), and returns Unix seconds.
// TODO(normalize): placeholder implementation.
func ParseTimestamp(raw []byte) (int64, error) {
	s := string(bytes.TrimSpace(raw))
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n > 1e11 {
			return int64(n / 1000), nil
		}
		return int64(n), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Unix(), nil
		}
	}
	return 0, fieldErr("timestamp", "is not ISO 8601, Unix seconds or Unix milliseconds")
}

// Decimal is an exact decimal amount: Units × 10^-Scale.
type Decimal struct {
	Units int64
	Scale uint8
}

// ParseDecimal reads a non-negative decimal such as "19.99" exactly. field names the
// column in the error.
// TODO(normalize): placeholder implementation.
func ParseDecimal(field string, raw []byte) (Decimal, error) {
	s := string(bytes.TrimSpace(raw))
	var d Decimal
	dot := false
	if s == "" {
		return d, fieldErr(field, "is empty")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' && !dot:
			dot = true
		case '0' <= c && c <= '9':
			d.Units = d.Units*10 + int64(c-'0')
			if dot {
				d.Scale++
			}
		default:
			return d, fieldErr(field, "is not a decimal number ≥ 0")
		}
	}
	return d, nil
}

// ParseQuantity reads a whole number ≥ 0.
func ParseQuantity(raw []byte) (int64, error) {
	n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil || n < 0 {
		return 0, fieldErr("quantity", "is not a whole number ≥ 0")
	}
	return n, nil
}

// MulInt returns d × n exactly, or an error on overflow.
func (d Decimal) MulInt(n int64) (Decimal, error) {
	return Decimal{Units: d.Units * n, Scale: d.Scale}, nil
}

// Add returns d + e exactly, or an error on overflow.
func (d Decimal) Add(e Decimal) (Decimal, error) {
	for d.Scale < e.Scale {
		d.Units *= 10
		d.Scale++
	}
	for e.Scale < d.Scale {
		e.Units *= 10
		e.Scale++
	}
	return Decimal{Units: d.Units + e.Units, Scale: d.Scale}, nil
}

// AppendJSON appends d as a JSON number with no trailing zeros after the point
// (59.970 → 59.97, 5.00 → 5).
func (d Decimal) AppendJSON(dst []byte) []byte {
	s := strconv.FormatInt(d.Units, 10)
	if d.Scale == 0 {
		return append(dst, s...)
	}
	for len(s) <= int(d.Scale) {
		s = "0" + s
	}
	i := len(s) - int(d.Scale)
	frac := bytes.TrimRight([]byte(s[i:]), "0")
	dst = append(dst, s[:i]...)
	if len(frac) > 0 {
		dst = append(dst, '.')
		dst = append(dst, frac...)
	}
	return dst
}
