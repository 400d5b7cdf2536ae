package normalize

import (
	"bytes"
	"time"
)

// Bounds of an accepted timestamp. Numbers above msThreshold are milliseconds (the
// SPEC's rule); a millisecond value past maxUnixSeconds×1000 is most likely micro- or
// nanoseconds and is refused rather than turned into a date thousands of years away.
const (
	msThreshold    = 100_000_000_000 // 1e11: 5138-11-16 as seconds, 1973-03-03 as milliseconds
	maxUnixSeconds = 253402300799    // 9999-12-31T23:59:59Z
	maxUnixMillis  = maxUnixSeconds*1000 + 999
)

const (
	msgTimestampShape = "is not ISO 8601 (e.g. 2026-11-20T10:00:00Z), Unix seconds or Unix milliseconds"
	msgTimestampRange = "is out of range (a date field such as the month, day or hour is too large)"
)

// ParseTimestamp reads ISO 8601 (with or without a zone; none means UTC), Unix seconds
// or Unix milliseconds (values above 1e11), and returns Unix seconds.
//
// Accepted ISO shapes, parsed by hand without allocating: "2026-11-20",
// "2026-11-20T10:00", "2026-11-20T10:00:00", a ' ' or 't' instead of the 'T',
// fractional seconds after '.' or ',' (truncated), and a zone of Z, ±HH:MM, ±HHMM or
// ±HH. A zone after a space ("2026-11-20 10:00:00 +02:00") goes through time.Parse.
// Numbers may be integers, decimals ("1763980000.5") or use an exponent
// ("1.76398e9"); the fraction of a second is truncated. Negative numbers, times before
// 1970 and times after the year 9999 are refused.
func ParseTimestamp(raw []byte) (int64, error) {
	v := bytes.TrimSpace(raw)
	if len(v) == 0 {
		return 0, fieldErr("timestamp", "is blank")
	}
	c := v[0]
	switch {
	case c == '-':
		return 0, fieldErr("timestamp", "is negative")
	case c < '0' || c > '9':
		return 0, fieldErr("timestamp", msgTimestampShape)
	case len(v) >= 10 && v[4] == '-':
		return parseISO(v)
	}
	return parseUnixNumber(v)
}

// parseUnixNumber reads a JSON-style number (digits, optional fraction, optional
// exponent) exactly, as integer arithmetic on up to 18 significant digits; digits
// beyond those only ever affect the truncated fraction of a second.
func parseUnixNumber(v []byte) (int64, error) {
	var (
		mant   uint64 // significant digits kept
		kept   int    // how many are in mant
		exp10  int    // value = mant × 10^exp10 (before the exponent part)
		digits int    // digits seen in the mantissa
		lost   bool   // a non-zero fractional digit was dropped
		i      int
	)
	addDigit := func(d byte, frac bool) {
		digits++
		switch {
		case kept == 0 && d == '0':
			if frac {
				exp10--
			}
		case kept < 18:
			mant = mant*10 + uint64(d-'0')
			kept++
			if frac {
				exp10--
			}
		default:
			if !frac {
				exp10++ // a dropped integer digit still counts as a power of ten
			} else if d != '0' {
				lost = true
			}
		}
	}
	for ; i < len(v) && '0' <= v[i] && v[i] <= '9'; i++ {
		addDigit(v[i], false)
	}
	if i < len(v) && v[i] == '.' {
		i++
		start := i
		for ; i < len(v) && '0' <= v[i] && v[i] <= '9'; i++ {
			addDigit(v[i], true)
		}
		if i == start {
			return 0, fieldErr("timestamp", msgTimestampShape)
		}
	}
	if digits == 0 {
		return 0, fieldErr("timestamp", msgTimestampShape)
	}
	e, next, ok := parseExponent(v, i, 10_000)
	if !ok {
		return 0, fieldErr("timestamp", msgTimestampShape)
	}
	exp10 += e
	i = next
	if i != len(v) {
		return 0, fieldErr("timestamp", msgTimestampShape)
	}

	// whole = ⌊mant × 10^exp10⌋; frac reports a non-zero remainder. Anything at or
	// above tooBig is refused, so the multiplication never overflows.
	const tooBig = maxUnixMillis + 1
	whole, frac := mant, lost
	switch {
	case mant == 0:
	case exp10 > 0:
		for ; exp10 > 0; exp10-- {
			if whole >= tooBig {
				break
			}
			whole *= 10
		}
	case exp10 < 0:
		if exp10 < -19 {
			whole, frac = 0, true
			break
		}
		p := pow10u(-exp10)
		whole, frac = mant/p, frac || mant%p != 0
	}
	switch {
	case whole > msThreshold || whole == msThreshold && frac:
		if whole > maxUnixMillis {
			return 0, fieldErr("timestamp", "is too large for Unix seconds or milliseconds (microseconds and nanoseconds are not accepted)")
		}
		return int64(whole / 1000), nil
	default:
		return int64(whole), nil
	}
}

// pow10u returns 10^n for 0 ≤ n ≤ 19.
func pow10u(n int) uint64 {
	p := uint64(1)
	for ; n > 0; n-- {
		p *= 10
	}
	return p
}

// parseISO reads the ISO 8601 shapes listed on ParseTimestamp. v starts with
// "dddd-" and is at least 10 bytes long.
func parseISO(v []byte) (int64, error) {
	year, ok1 := digits(v[0:4])
	month, ok2 := digits(v[5:7])
	day, ok3 := digits(v[8:10])
	if !ok1 || !ok2 || !ok3 || v[7] != '-' {
		return 0, fieldErr("timestamp", msgTimestampShape)
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return 0, fieldErr("timestamp", msgTimestampRange)
	}
	secs := daysFromCivil(year, month, day) * 86400
	rest := v[10:]
	if len(rest) == 0 {
		return checkEpoch(secs)
	}
	if sep := rest[0]; sep != 'T' && sep != 't' && sep != ' ' || len(rest) < 6 || rest[3] != ':' {
		return parseISOFallback(v)
	}
	hour, ok1 := digits(rest[1:3])
	minute, ok2 := digits(rest[4:6])
	if !ok1 || !ok2 {
		return 0, fieldErr("timestamp", msgTimestampShape)
	}
	second := 0
	rest = rest[6:]
	if len(rest) > 0 && rest[0] == ':' {
		var ok bool
		if len(rest) < 3 {
			return 0, fieldErr("timestamp", msgTimestampShape)
		}
		if second, ok = digits(rest[1:3]); !ok {
			return 0, fieldErr("timestamp", msgTimestampShape)
		}
		rest = rest[3:]
		if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
			i := 1
			for i < len(rest) && '0' <= rest[i] && rest[i] <= '9' {
				i++
			}
			if i == 1 {
				return 0, fieldErr("timestamp", msgTimestampShape)
			}
			rest = rest[i:]
		}
	}
	if hour > 23 || minute > 59 || second > 59 {
		return 0, fieldErr("timestamp", msgTimestampRange)
	}
	secs += int64(hour*3600 + minute*60 + second)
	switch {
	case len(rest) == 0:
		// No zone: UTC, as the SPEC says.
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case rest[0] == '+' || rest[0] == '-':
		off, ok := parseOffset(rest[1:])
		if !ok {
			return 0, fieldErr("timestamp", "has a zone offset that is not ±HH:MM, ±HHMM or ±HH")
		}
		if rest[0] == '+' {
			secs -= off
		} else {
			secs += off
		}
	case rest[0] == ' ':
		return parseISOFallback(v)
	default:
		return 0, fieldErr("timestamp", msgTimestampShape)
	}
	return checkEpoch(secs)
}

// parseOffset reads HH:MM, HHMM or HH (hours ≤ 23, minutes ≤ 59) into seconds.
func parseOffset(b []byte) (int64, bool) {
	var hh, mm int
	var ok1, ok2 bool
	switch len(b) {
	case 2:
		hh, ok1 = digits(b)
		ok2 = true
	case 4:
		hh, ok1 = digits(b[0:2])
		mm, ok2 = digits(b[2:4])
	case 5:
		if b[2] != ':' {
			return 0, false
		}
		hh, ok1 = digits(b[0:2])
		mm, ok2 = digits(b[3:5])
	default:
		return 0, false
	}
	if !ok1 || !ok2 || hh > 23 || mm > 59 {
		return 0, false
	}
	return int64(hh*3600 + mm*60), true
}

// isoFallbackLayouts are the rarer shapes time.Parse handles for us, all with an
// explicit numeric zone so that nothing is guessed.
var isoFallbackLayouts = [...]string{
	"2006-01-02 15:04:05 -07:00",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02T15:04:05 -07:00",
	"2006-01-02T15:04:05 -0700",
	"2006-01-02 15:04:05.999999999 -07:00",
	"2006-01-02 15:04:05.999999999 -0700",
	"2006-01-02 15:04:05 Z07:00",
}

func parseISOFallback(v []byte) (int64, error) {
	s := string(v)
	for _, layout := range isoFallbackLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return checkEpoch(t.Unix())
		}
	}
	return 0, fieldErr("timestamp", msgTimestampShape)
}

func checkEpoch(secs int64) (int64, error) {
	if secs < 0 {
		return 0, fieldErr("timestamp", "is before 1970-01-01T00:00:00Z")
	}
	if secs > maxUnixSeconds {
		return 0, fieldErr("timestamp", "is after the year 9999")
	}
	return secs, nil
}

// digits reads b (ASCII digits only) as a non-negative integer.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian date
// (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
