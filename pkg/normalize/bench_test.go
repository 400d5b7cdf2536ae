package normalize

import (
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// usPhones is a realistic mix of how US numbers arrive in customer exports.
var usPhones = [][]byte{
	[]byte("(415) 555-0132"),
	[]byte("415.555.0132"),
	[]byte("+1 415 555 0132"),
	[]byte("1-415-555-0132"),
	[]byte("4155550132"),
	[]byte("+14155550132"),
}

// BenchmarkPhone compares the fast path with plain phonenumbers on the same inputs;
// the ratio of the two ns/op figures is the speed-up reported in docs/performance.md.
func BenchmarkPhone(b *testing.B) {
	p, err := NewPhone("US")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 32)
		for i := 0; b.Loop(); i++ {
			if _, err := p.AppendE164(buf[:0], usPhones[i%len(usPhones)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("phonenumbers", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			num, err := phonenumbers.Parse(string(usPhones[i%len(usPhones)]), "US")
			if err != nil || !phonenumbers.IsPossibleNumber(num) {
				b.Fatal(err)
			}
			_ = phonenumbers.Format(num, phonenumbers.E164)
		}
	})
	b.Run("hashed", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 64)
		for i := 0; b.Loop(); i++ {
			if _, err := p.AppendHashed(buf[:0], usPhones[i%len(usPhones)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A number outside the fast shapes pays for phonenumbers; this shows the cost.
	b.Run("fallback", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 32)
		raw := []byte("415-555-0132 ext. 12")
		for b.Loop() {
			if _, err := p.AppendE164(buf[:0], raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEmail(b *testing.B) {
	raw := []byte("  Jane.Doe+news@Example.COM ")
	b.Run("normalize", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 64)
		for b.Loop() {
			if _, err := AppendEmail(buf[:0], raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hashed", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 64)
		for b.Loop() {
			if _, err := AppendHashedEmail(buf[:0], raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	digest := AppendSHA256Hex(nil, []byte("jane.doe+news@example.com"))
	b.Run("digest-passthrough", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 64)
		for b.Loop() {
			if _, err := AppendHashedEmail(buf[:0], digest); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkExternalID(b *testing.B) {
	b.ReportAllocs()
	raw := []byte(" cust-000042 ")
	buf := make([]byte, 0, 64)
	for b.Loop() {
		if _, err := AppendHashedExternalID(buf[:0], raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTimestamp(b *testing.B) {
	for _, c := range []struct{ name, raw string }{
		{"iso-z", "2026-11-20T10:00:00Z"},
		{"iso-offset-frac", "2026-11-20T10:00:00.123+02:00"},
		{"iso-space", "2026-11-20 10:00:00"},
		{"date", "2026-11-20"},
		{"unix-s", "1763980000"},
		{"unix-ms", "1763980000123"},
		{"unix-exp", "1.76398e9"},
		{"iso-space-zone-fallback", "2026-11-20 10:00:00 +02:00"},
	} {
		raw := []byte(c.raw)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseTimestamp(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMoney(b *testing.B) {
	price, qty := []byte("19.99"), []byte("3")
	b.ReportAllocs()
	buf := make([]byte, 0, 32)
	for b.Loop() {
		d, err := ParseDecimal("price", price)
		if err != nil {
			b.Fatal(err)
		}
		n, err := ParseQuantity(qty)
		if err != nil {
			b.Fatal(err)
		}
		v, err := d.MulInt(n)
		if err != nil {
			b.Fatal(err)
		}
		if v, err = v.Add(d); err != nil {
			b.Fatal(err)
		}
		buf = v.AppendJSON(buf[:0])
	}
}

func BenchmarkSHA256Hex(b *testing.B) {
	b.ReportAllocs()
	v := []byte("jane.doe@example.com")
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf = AppendSHA256Hex(buf[:0], v)
	}
}
