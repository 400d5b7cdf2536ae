package normalize

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestAppendSHA256Hex(t *testing.T) {
	for _, in := range []string{"", "foo@example.com", "+14155550132", strings.Repeat("x", 1000)} {
		sum := sha256.Sum256([]byte(in))
		want := "prefix:" + hex.EncodeToString(sum[:])
		if got := AppendSHA256Hex([]byte("prefix:"), []byte(in)); string(got) != want {
			t.Errorf("AppendSHA256Hex(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestIsSHA256Hex(t *testing.T) {
	d := string(AppendSHA256Hex(nil, []byte("x")))
	cases := map[string]bool{
		d:                        true,
		strings.ToUpper(d):       true,
		d[:63]:                   false,
		d + "0":                  false,
		d[:63] + "g":             false,
		"":                       false,
		strings.Repeat("0", 64):  true,
		" " + d[:63]:             false,
		strings.Repeat("f", 64):  true,
		strings.Repeat("F", 64):  true,
		strings.Repeat("G", 64):  false,
		strings.Repeat("0x", 32): false,
	}
	for in, want := range cases {
		if got := IsSHA256Hex([]byte(in)); got != want {
			t.Errorf("IsSHA256Hex(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestAppendHashedExternalID(t *testing.T) {
	want := string(AppendSHA256Hex(nil, []byte("cust-42")))
	for _, in := range []string{"cust-42", "  cust-42\t"} {
		if got, err := HashExternalID(in); err != nil || got != want {
			t.Errorf("HashExternalID(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	// Case is kept: external ids are opaque.
	if got, _ := HashExternalID("CUST-42"); got == want {
		t.Errorf("external id was case-folded")
	}
	if got, err := HashExternalID(" " + want + " "); err != nil || got != want {
		t.Errorf("digest did not pass through: %s, %v", got, err)
	}
	for _, in := range []string{"", "   ", "\t\n"} {
		got, err := AppendHashedExternalID([]byte("prefix:"), []byte(in))
		if err == nil || string(got) != "prefix:" || err.Error() != "external_id: is blank" {
			t.Errorf("AppendHashedExternalID(%q) = %q, %v; want external_id: is blank", in, got, err)
		}
	}
}

// TestDigestPassesThroughLowerCased: a value already hashed upstream, in either case,
// is sent as its lower-case hex by every hashed field (SPEC §3).
func TestDigestPassesThroughLowerCased(t *testing.T) {
	p, err := NewPhone("US")
	if err != nil {
		t.Fatal(err)
	}
	d := string(AppendSHA256Hex(nil, []byte("x")))
	mixed := strings.ToUpper(d[:32]) + d[32:]
	fields := []struct {
		name string
		f    func(dst, raw []byte) ([]byte, error)
	}{
		{"email", AppendHashedEmail},
		{"phone", p.AppendHashed},
		{"external_id", AppendHashedExternalID},
		{"first_name", func(dst, raw []byte) ([]byte, error) { return AppendHashedName("first_name", dst, raw) }},
		{"city", AppendHashedCity},
		{"country", AppendHashedCountry},
		{"state", func(dst, raw []byte) ([]byte, error) { return AppendHashedState(dst, raw, []byte("us")) }},
		{"zip_code", func(dst, raw []byte) ([]byte, error) { return AppendHashedZipCode(dst, raw, []byte("us")) }},
	}
	for _, f := range fields {
		for _, in := range []string{d, strings.ToUpper(d), mixed, "  " + strings.ToUpper(d) + "\t"} {
			got, err := f.f([]byte("p:"), []byte(in))
			if err != nil || string(got) != "p:"+d {
				t.Errorf("%s(%q) = %s, %v; want p:%s", f.name, in, got, err, d)
			}
		}
	}
	for _, in := range []string{d[:63], d + "0", strings.Repeat("g", 64)} {
		if out, ok := AppendDigest(nil, []byte(in)); ok || out != nil {
			t.Errorf("AppendDigest(%q) = %q, %v; want not a digest", in, out, ok)
		}
	}
}
