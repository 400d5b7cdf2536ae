package normalize

import (
	"math"
	"math/big"
	"strings"
	"testing"
)

func dec(t testing.TB, s string) Decimal {
	t.Helper()
	d, err := ParseDecimal("price", []byte(s))
	if err != nil {
		t.Fatalf("ParseDecimal(%q): %v", s, err)
	}
	return d
}

func TestParseDecimal(t *testing.T) {
	ok := []struct {
		in   string
		want Decimal
		json string
	}{
		{"19.99", Decimal{1999, 2}, "19.99"},
		{" 19.990 ", Decimal{1999, 2}, "19.99"},
		{"5", Decimal{5, 0}, "5"},
		{"5.00", Decimal{5, 0}, "5"},
		{"+5.5", Decimal{55, 1}, "5.5"},
		{"0", Decimal{}, "0"},
		{"0.000", Decimal{}, "0"},
		{"00.10", Decimal{1, 1}, "0.1"},
		{".5", Decimal{5, 1}, "0.5"},
		{"19.", Decimal{19, 0}, "19"},
		{"0.05", Decimal{5, 2}, "0.05"},
		{"1e2", Decimal{100, 0}, "100"},
		{"1.5E3", Decimal{1500, 0}, "1500"},
		{"1e-7", Decimal{1, 7}, "0.0000001"},
		{"12.5e-1", Decimal{125, 2}, "1.25"},
		{"2.50e+1", Decimal{25, 0}, "25"},
		{"0e5", Decimal{}, "0"},
		{"999999999999999999", Decimal{999999999999999999, 0}, "999999999999999999"},
		{"0.000000000000000001", Decimal{1, 18}, "0.000000000000000001"},
		{"1.50000000000000000000000", Decimal{15, 1}, "1.5"},
		{"123456789.123456789", Decimal{123456789123456789, 9}, "123456789.123456789"},
	}
	for _, c := range ok {
		got, err := ParseDecimal("price", []byte(c.in))
		if err != nil || got != c.want || got.String() != c.json {
			t.Errorf("ParseDecimal(%q) = %+v (%s), %v; want %+v (%s)", c.in, got, got, err, c.want, c.json)
		}
	}
	bad := map[string]string{
		"":                     "blank",
		" ":                    "blank",
		"-1":                   "negative",
		"-0":                   "negative",
		"abc":                  "not a decimal",
		"1,99":                 "not a decimal",
		"1.2.3":                "not a decimal",
		"$5":                   "not a decimal",
		"5 USD":                "not a decimal",
		".":                    "not a decimal",
		"e5":                   "not a decimal",
		"1e":                   "not a decimal",
		"NaN":                  "not a decimal",
		"Infinity":             "not a decimal",
		"++1":                  "not a decimal",
		"0x10":                 "not a decimal",
		"1234567890123456789":  "18 significant digits",
		"1.234567890123456789": "18 significant digits",
		"1e18":                 "18 significant digits",
		"1e400":                "18 significant digits",
		"1e-19":                "18 digits after the decimal point",
		"1e-999":               "18 digits after the decimal point",
	}
	for in, want := range bad {
		_, err := ParseDecimal("price", []byte(in))
		if err == nil || !strings.HasPrefix(err.Error(), "price: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseDecimal(%q): %v; want a price error about %q", in, err, want)
		}
	}
}

func TestParseQuantity(t *testing.T) {
	for in, want := range map[string]int64{"3": 3, " 3 ": 3, "3.0": 3, "3.000": 3, "3e0": 3, "0": 0, "1e3": 1000, "30e-1": 3, "+2": 2} {
		got, err := ParseQuantity([]byte(in))
		if err != nil || got != want {
			t.Errorf("ParseQuantity(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, want := range map[string]string{"2.5": "not a whole number", "-1": "negative", "": "blank", "three": "not a decimal", "1e-1": "not a whole number"} {
		_, err := ParseQuantity([]byte(in))
		if err == nil || !strings.HasPrefix(err.Error(), "quantity: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseQuantity(%q): %v; want a quantity error about %q", in, err, want)
		}
	}
}

func TestDecimalArithmetic(t *testing.T) {
	v, err := dec(t, "19.99").MulInt(3)
	if err != nil || v.String() != "59.97" {
		t.Errorf("19.99 × 3 = %s, %v; want 59.97", v, err)
	}
	s, err := dec(t, "0.1").Add(dec(t, "0.2"))
	if err != nil || s.String() != "0.3" || s != (Decimal{3, 1}) {
		t.Errorf("0.1 + 0.2 = %+v, %v; want 0.3", s, err)
	}
	s, err = dec(t, "2.5").MulInt(2)
	if err != nil || s != (Decimal{5, 0}) {
		t.Errorf("2.5 × 2 = %+v, %v; want 5 reduced", s, err)
	}
	s, err = dec(t, "1.005").Add(dec(t, "10"))
	if err != nil || s.String() != "11.005" {
		t.Errorf("1.005 + 10 = %s, %v", s, err)
	}
	if z, err := dec(t, "19.99").MulInt(0); err != nil || z != (Decimal{}) || z.String() != "0" {
		t.Errorf("× 0 = %+v, %v", z, err)
	}
	// Overflow is an error naming "value", never a wrapped-around amount.
	big1 := dec(t, "999999999999999999")
	for name, f := range map[string]func() (Decimal, error){
		"mul":       func() (Decimal, error) { return big1.MulInt(100) },
		"mul-max":   func() (Decimal, error) { return Decimal{Units: math.MaxInt64}.MulInt(2) },
		"mul-min":   func() (Decimal, error) { return Decimal{Units: math.MinInt64}.MulInt(-1) },
		"add":       func() (Decimal, error) { return Decimal{Units: math.MaxInt64}.Add(Decimal{Units: 1}) },
		"add-scale": func() (Decimal, error) { return big1.Add(dec(t, "0.01")) },
	} {
		if d, err := f(); err == nil || !strings.HasPrefix(err.Error(), "value: ") {
			t.Errorf("%s: %+v, %v; want a value overflow error", name, d, err)
		}
	}
}

func TestDecimalAppendJSON(t *testing.T) {
	cases := []struct {
		d    Decimal
		want string
	}{
		{Decimal{}, "0"},
		{Decimal{0, 5}, "0"},
		{Decimal{5997, 2}, "59.97"},
		{Decimal{59970, 3}, "59.97"},
		{Decimal{500, 2}, "5"},
		{Decimal{5, 2}, "0.05"},
		{Decimal{-5, 2}, "-0.05"},
		{Decimal{-1500, 1}, "-150"},
		{Decimal{1, 18}, "0.000000000000000001"},
		{Decimal{math.MaxInt64, 0}, "9223372036854775807"},
		{Decimal{math.MinInt64, 0}, "-9223372036854775808"},
		{Decimal{math.MinInt64, 19}, "-0.9223372036854775808"},
		{Decimal{12, 255}, "0." + strings.Repeat("0", 253) + "12"},
	}
	for _, c := range cases {
		if got := c.d.AppendJSON([]byte("x:")); string(got) != "x:"+c.want {
			t.Errorf("%+v.AppendJSON = %s, want %s", c.d, got, c.want)
		}
	}
}

// ratOf is the exact value of d, for cross-checks.
func ratOf(d Decimal) *big.Rat {
	return new(big.Rat).SetFrac(big.NewInt(d.Units), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale)), nil))
}

func FuzzMoney(f *testing.F) {
	for _, s := range []string{"19.99", "0.1", "5.00", "1e2", "1e-7", "999999999999999999", ".5", "19.", "-1", "1.2.3", "+3", "3.0"} {
		f.Add(s, int64(3))
	}
	f.Fuzz(func(t *testing.T, raw string, n int64) {
		d, err := ParseDecimal("price", []byte(raw))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "price: ") {
				t.Fatalf("error %q does not name the field", err)
			}
			return
		}
		if d.Units < 0 || d.Scale > maxDigits || d != d.reduce() {
			t.Fatalf("ParseDecimal(%q) = %+v", raw, d)
		}
		// The value is exactly what big.Rat reads (for the forms it reads).
		if r, ok := new(big.Rat).SetString(strings.TrimPrefix(strings.TrimSpace(raw), "+")); ok && r.Cmp(ratOf(d)) != 0 {
			t.Fatalf("ParseDecimal(%q) = %s, big.Rat says %s", raw, d, r.RatString())
		}
		// JSON output reads back to the same amount.
		js := d.String()
		back, err := ParseDecimal("price", []byte(js))
		if err != nil || back != d || strings.HasSuffix(js, ".") || strings.Contains(js, ".") && strings.HasSuffix(js, "0") {
			t.Fatalf("%+v → %q → %+v, %v", d, js, back, err)
		}
		want := new(big.Rat).Mul(ratOf(d), new(big.Rat).SetInt64(n))
		m, err := d.MulInt(n)
		if err != nil {
			if want.Cmp(ratOf(Decimal{Units: math.MaxInt64, Scale: d.Scale})) <= 0 && want.Cmp(ratOf(Decimal{Units: math.MinInt64, Scale: d.Scale})) >= 0 {
				t.Fatalf("%s × %d refused though it fits", d, n)
			}
			return
		}
		if ratOf(m).Cmp(want) != 0 {
			t.Fatalf("%s × %d = %s, want %s", d, n, m, want.RatString())
		}
		sum, err := m.Add(d)
		if err == nil && ratOf(sum).Cmp(new(big.Rat).Add(want, ratOf(d))) != 0 {
			t.Fatalf("%s + %s = %s", m, d, sum)
		}
	})
}
