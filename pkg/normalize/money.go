package normalize

import (
	"bytes"
	"strconv"
)

// maxDigits is the most significant digits a Decimal carries: every 18-digit integer
// fits in an int64, so parsing never overflows and the error can say why plainly.
const maxDigits = 18

// Decimal is an exact decimal amount: Units × 10^-Scale.
//
// Values made by ParseDecimal, MulInt and Add are reduced (no trailing zero digits in
// Units while Scale > 0), so equal amounts compare equal with ==.
type Decimal struct {
	Units int64
	Scale uint8
}

// ParseDecimal reads a non-negative decimal such as "19.99" exactly. field names the
// column in the error.
//
// Accepted: digits with an optional fraction ("19.99", "19.", ".5"), and an optional
// exponent as JSON writes small or large numbers ("1e-7", "1.5E3"), applied exactly. A
// leading '+' is accepted (spreadsheets write it); a '-' is refused as negative. At
// most 18 significant digits and 18 digits after the point; more is refused rather
// than rounded.
func ParseDecimal(field string, raw []byte) (Decimal, error) {
	v := bytes.TrimSpace(raw)
	if len(v) == 0 {
		return Decimal{}, fieldErr(field, "is blank")
	}
	switch v[0] {
	case '-':
		return Decimal{}, fieldErr(field, "is negative")
	case '+':
		v = v[1:]
	}
	var (
		units  int64
		kept   int // significant digits in units
		scale  int // digits after the point so far (may go negative with an exponent)
		digits int
		i      int
	)
	for ; i < len(v) && '0' <= v[i] && v[i] <= '9'; i++ {
		digits++
		if kept == 0 && v[i] == '0' {
			continue
		}
		if kept == maxDigits {
			return Decimal{}, fieldErr(field, "has more than 18 significant digits")
		}
		units = units*10 + int64(v[i]-'0')
		kept++
	}
	if i < len(v) && v[i] == '.' {
		// Zeros after the point count only once a non-zero digit follows them, so
		// "1.50000000000000000000" is 1.5, not too many digits.
		zeros := 0
		for i++; i < len(v) && '0' <= v[i] && v[i] <= '9'; i++ {
			digits++
			if v[i] == '0' {
				if kept == 0 {
					scale++
				} else {
					zeros++
				}
				continue
			}
			for ; zeros >= 0; zeros-- {
				if kept == maxDigits {
					return Decimal{}, fieldErr(field, "has more than 18 significant digits")
				}
				units *= 10
				kept++
				scale++
			}
			zeros = 0
			units += int64(v[i] - '0')
		}
	}
	if digits == 0 {
		return Decimal{}, fieldErr(field, "is not a decimal number ≥ 0")
	}
	e, next, ok := parseExponent(v, i, 1000)
	if !ok {
		return Decimal{}, fieldErr(field, "is not a decimal number ≥ 0")
	}
	scale -= e
	i = next
	if i != len(v) {
		return Decimal{}, fieldErr(field, "is not a decimal number ≥ 0")
	}
	if units == 0 {
		return Decimal{}, nil
	}
	// Drop trailing zeros of the fraction first, so "1.50000000000000000000" fits.
	for scale > 0 && units%10 == 0 {
		units /= 10
		scale--
	}
	if scale > maxDigits {
		return Decimal{}, fieldErr(field, "has more than 18 digits after the decimal point")
	}
	for ; scale < 0; scale++ {
		if kept == maxDigits {
			return Decimal{}, fieldErr(field, "has more than 18 significant digits")
		}
		units *= 10
		kept++
	}
	return Decimal{Units: units, Scale: uint8(scale)}, nil
}

// ParseQuantity reads a whole number ≥ 0. A zero fraction is accepted ("3.0", "3e0"),
// since JSON encoders of floating-point columns write whole numbers that way; a
// non-zero one ("2.5") is refused.
func ParseQuantity(raw []byte) (int64, error) {
	d, err := ParseDecimal("quantity", raw)
	if err != nil {
		return 0, err
	}
	if d.Scale != 0 {
		return 0, fieldErr("quantity", "is not a whole number")
	}
	return d.Units, nil
}

// MulInt returns d × n exactly, or a *FieldError for "value" on overflow.
func (d Decimal) MulInt(n int64) (Decimal, error) {
	u, ok := mul64(d.Units, n)
	if !ok {
		return Decimal{}, fieldErr("value", "price × quantity is too large to compute exactly")
	}
	return Decimal{Units: u, Scale: d.Scale}.reduce(), nil
}

// Add returns d + e exactly, or a *FieldError for "value" on overflow.
func (d Decimal) Add(e Decimal) (Decimal, error) {
	var ok bool
	for d.Scale < e.Scale {
		if d.Units, ok = mul64(d.Units, 10); !ok {
			return Decimal{}, fieldErr("value", "the sum of price × quantity is too large to compute exactly")
		}
		d.Scale++
	}
	for e.Scale < d.Scale {
		if e.Units, ok = mul64(e.Units, 10); !ok {
			return Decimal{}, fieldErr("value", "the sum of price × quantity is too large to compute exactly")
		}
		e.Scale++
	}
	s := d.Units + e.Units
	if (s > d.Units) != (e.Units > 0) {
		return Decimal{}, fieldErr("value", "the sum of price × quantity is too large to compute exactly")
	}
	return Decimal{Units: s, Scale: d.Scale}.reduce(), nil
}

func (d Decimal) reduce() Decimal {
	if d.Units == 0 {
		return Decimal{}
	}
	for d.Scale > 0 && d.Units%10 == 0 {
		d.Units /= 10
		d.Scale--
	}
	return d
}

// mul64 multiplies with overflow detection.
func mul64(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	c := a * b
	if (c < 0) != ((a < 0) != (b < 0)) || c/b != a {
		return 0, false
	}
	return c, true
}

// AppendJSON appends d as a JSON number with no trailing zeros after the point
// (59.970 → 59.97, 5.00 → 5, 0.05 stays 0.05). It does not allocate when dst has room.
func (d Decimal) AppendJSON(dst []byte) []byte {
	if d.Units == 0 {
		return append(dst, '0')
	}
	u := uint64(d.Units)
	if d.Units < 0 {
		dst = append(dst, '-')
		u = -u // also right for math.MinInt64, as a uint64
	}
	var buf [24]byte
	digs := strconv.AppendUint(buf[:0], u, 10)
	scale := int(d.Scale)
	for scale > 0 && digs[len(digs)-1] == '0' {
		digs = digs[:len(digs)-1]
		scale--
	}
	if scale == 0 {
		return append(dst, digs...)
	}
	if len(digs) > scale {
		dst = append(dst, digs[:len(digs)-scale]...)
		dst = append(dst, '.')
		return append(dst, digs[len(digs)-scale:]...)
	}
	dst = append(dst, '0', '.')
	for k := len(digs); k < scale; k++ {
		dst = append(dst, '0')
	}
	return append(dst, digs...)
}

// String returns the JSON form, e.g. "59.97".
func (d Decimal) String() string {
	var buf [32]byte
	return string(d.AppendJSON(buf[:0]))
}

// parseExponent reads an optional exponent ("e5", "E-3", "e+2") of a number at v[i:]
// and returns it with the index after it. ok is false for an "e" with no digits. The
// magnitude is clamped at limit, which every caller rejects anyway: digits past it
// cannot overflow.
func parseExponent(v []byte, i, limit int) (exp, next int, ok bool) {
	if i >= len(v) || v[i] != 'e' && v[i] != 'E' {
		return 0, i, true
	}
	i++
	neg := false
	if i < len(v) && (v[i] == '+' || v[i] == '-') {
		neg = v[i] == '-'
		i++
	}
	start := i
	for ; i < len(v) && '0' <= v[i] && v[i] <= '9'; i++ {
		if exp < limit {
			exp = exp*10 + int(v[i]-'0')
		}
	}
	if i == start {
		return 0, i, false
	}
	if neg {
		exp = -exp
	}
	return exp, i, true
}
