package normalize

import (
	"errors"
	"strings"
	"testing"
)

// TestAdvancedMatching covers the normalized (unhashed) forms of the name and address
// keys of SPEC §3: the value TikTok hashes, and the refusals.
func TestAdvancedMatching(t *testing.T) {
	name := func(raw, _ string) ([]byte, error) { return AppendName("first_name", nil, []byte(raw)) }
	city := func(raw, _ string) ([]byte, error) { return AppendCity(nil, []byte(raw)) }
	country := func(raw, _ string) ([]byte, error) { return AppendCountry(nil, []byte(raw)) }
	state := func(raw, cc string) ([]byte, error) { return AppendState(nil, []byte(raw), []byte(cc)) }
	zip := func(raw, cc string) ([]byte, error) { return AppendZipCode(nil, []byte(raw), []byte(cc)) }
	tests := []struct {
		field   string
		f       func(raw, country string) ([]byte, error)
		raw, cc string
		want    string // "" means refused
	}{
		{"first_name", name, "  Ann ", "", "ann"},
		{"first_name", name, "Mary  Ann", "", "mary ann"},
		{"first_name", name, "ÉLODIE", "", "élodie"},
		{"first_name", name, "   ", "", ""},
		{"first_name", name, "an\x01n", "", ""},
		{"first_name", name, "an\xffn", "", ""},
		{"city", city, " San Francisco ", "", "san francisco"},
		{"city", city, "MÜNCHEN", "", "münchen"},
		{"country", country, "US", "", "us"},
		{"country", country, " de ", "", "de"},
		{"country", country, "USA", "", "us"},
		{"country", country, "UK", "", "gb"},
		{"country", country, "EU", "", ""},
		{"country", country, "ZZ", "", ""},
		{"country", country, "AA", "", ""},
		{"country", country, "United States", "", ""},
		{"country", country, "U1", "", ""},
		{"country", country, "", "", ""},
		{"state", state, "NY", "us", "ny"},
		{"state", state, " New  York ", "us", "ny"},
		{"state", state, "district of columbia", "US", "dc"},
		{"state", state, "Québec", "ca", "qc"},
		{"state", state, "ON", "ca", "on"},
		{"state", state, "Bavaria", "us", ""},
		{"state", state, "NY", "ca", ""},
		{"state", state, "Bavaria", "de", "bavaria"},
		{"state", state, "Some State", "", "some state"},
		{"zip_code", zip, "94107", "us", "94107"},
		{"zip_code", zip, "94107-1234", "us", "94107"},
		{"zip_code", zip, " 941071234 ", "us", "94107"},
		{"zip_code", zip, "94107-1234", "", "94107"},
		{"zip_code", zip, "9410", "us", ""},
		{"zip_code", zip, "SW1A 1AA", "gb", "sw1a1aa"},
		{"zip_code", zip, "SW1A 1AA", "", "sw1a1aa"},
		{"zip_code", zip, "K1A 0B1", "ca", "k1a0b1"},
		{"zip_code", zip, "12345-6789", "de", "12345-6789"},
	}
	for _, tc := range tests {
		got, err := tc.f(tc.raw, tc.cc)
		if tc.want == "" {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Errorf("%s(%q, country %q) = %q, %v; want a %s error", tc.field, tc.raw, tc.cc, got, err, tc.field)
			} else if r := strings.TrimSpace(tc.raw); len(r) > 1 && strings.Contains(err.Error(), r) {
				t.Errorf("%s(%q): error %q echoes the value", tc.field, tc.raw, err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%s(%q, country %q) = %q, %v; want %q", tc.field, tc.raw, tc.cc, got, err, tc.want)
		}
	}
}

// TestAdvancedMatchingHashed: the hashed forms hash exactly the normalized value.
func TestAdvancedMatchingHashed(t *testing.T) {
	h := func(s string) string { return string(AppendSHA256Hex(nil, []byte(s))) }
	tests := []struct {
		name string
		got  func() ([]byte, error)
		want string
	}{
		{"last_name", func() ([]byte, error) { return AppendHashedName("last_name", nil, []byte(" Smith ")) }, h("smith")},
		{"city", func() ([]byte, error) { return AppendHashedCity(nil, []byte("Paris")) }, h("paris")},
		{"country", func() ([]byte, error) { return AppendHashedCountry(nil, []byte("FR")) }, h("fr")},
		{"state", func() ([]byte, error) { return AppendHashedState(nil, []byte("California"), []byte("us")) }, h("ca")},
		{"zip_code", func() ([]byte, error) { return AppendHashedZipCode(nil, []byte("94107-1234"), []byte("us")) }, h("94107")},
	}
	for _, tc := range tests {
		got, err := tc.got()
		if err != nil || string(got) != tc.want {
			t.Errorf("%s = %s, %v; want %s", tc.name, got, err, tc.want)
		}
	}
	if out, err := AppendHashedState([]byte("p:"), []byte("Bavaria"), []byte("us")); err == nil || string(out) != "p:" {
		t.Errorf("refused state appended %q, %v", out, err)
	}
}

// FuzzAdvancedMatching: the name and address normalizers never panic, never echo the
// input in an error, and are idempotent: normalizing a normalized value gives it back.
func FuzzAdvancedMatching(f *testing.F) {
	for _, s := range []string{"Ann", " New  York ", "Québec", "94107-1234", "SW1A 1AA", "USA", "uk", "EU", "\xff", "a\x01b", "\u00a0x\u2028"} {
		f.Add(s, "us")
		f.Add(s, "")
		f.Add(s, "CA")
	}
	f.Fuzz(func(t *testing.T, raw, country string) {
		type norm func(dst, raw []byte) ([]byte, error)
		withCountry := func(g func(dst, raw, country []byte) ([]byte, error)) norm {
			return func(dst, raw []byte) ([]byte, error) { return g(dst, raw, []byte(country)) }
		}
		for name, g := range map[string]norm{
			"name":     func(dst, raw []byte) ([]byte, error) { return AppendName("first_name", dst, raw) },
			"city":     AppendCity,
			"country":  AppendCountry,
			"state":    withCountry(AppendState),
			"zip_code": withCountry(AppendZipCode),
		} {
			out, err := g([]byte("p:"), []byte(raw))
			if err != nil {
				if string(out) != "p:" {
					t.Fatalf("%s(%q): error %v but appended %q", name, raw, err, out)
				}
				if r := strings.TrimSpace(raw); len(r) > 3 && strings.Contains(err.Error(), r) {
					t.Fatalf("%s(%q): error %q echoes the value", name, raw, err)
				}
				continue
			}
			again, err := g(nil, out[2:])
			if err != nil || string(again) != string(out[2:]) {
				t.Fatalf("%s(%q) = %q, but %q gives %q, %v", name, raw, out[2:], out[2:], again, err)
			}
		}
	})
}
