package normalize

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// diffRegions are the default regions the differential tests run under: the US and
// a NANP neighbour with the national fast path, NANP regions without it (a pattern
// national prefix, a literal one), and non-NANP regions with simple and complex
// national prefixes.
var diffRegions = []string{"US", "CA", "JM", "KY", "GB", "DE", "FR", "IN", "BR", "AR"}

// trickyPhones seed the differential fuzz test and drive the table test.
var trickyPhones = []string{
	// The common US shapes.
	"(415) 555-0132", "415.555.0132", "+1 415 555 0132", "1-415-555-0132", "4155550132",
	"+14155550132", "415-555-0132", "415 555 0132", "1 (415) 555-0132", "+1 (415) 555-0132",
	"+1-415-555-0132", "1.415.555.0132", "+1.415.555.0132", "(415)555-0132", "(415)(555)(0132)",
	"4 1 5 5 5 5 0 1 3 2", " 4155550132 ", "  +14155550132", "\t4155550132", "\n(415) 555-0132",
	// Surrounding junk and white space phonenumbers treats specially.
	"4155550132\t", "4155550132\n", "4155550132\r\n", "415555\t0132", "4155550132 )", "4155550132)\n",
	"-+14155550132", "(+1) 415 555 0132", "++14155550132", "+ +14155550132", "+\t14155550132",
	"+1\t4155550132", "1+4155550132", "415+555+0132", "4155550132+", "..4155550132..", "()4155550132",
	"4155550132\u00a0", "\u00a04155550132", "4155550132\v", "4155550132\f",
	// Leading 1 variants and national prefixes.
	"14155550132", "1 0155550132", "1 1415 555 0132", "11 415 555 0132", "+1 1 415 555 0132",
	"+11 415 555 0132", "+1 0415 555 0132", "0415 555 0132", "1415555013", "141555501322",
	"2345678901", "1234567890", "0123456789", "9999999999", "19999999999", "10000000000",
	"5550132", "555-0132", "+1 555 0132", "345 5550132", "1 345 5550132", "+1 345 555 0132",
	"876 555 0132", "1 876 555 0132", "555", "55", "5", "", " ", "+", "++", "+1", "+10", "+1 5",
	"+1 55", "+1 555", "+1 4155550132 5", "+1 41555501321234567", "415555013212345678901234",
	// International prefixes (IDD) instead of '+'.
	"011 44 20 7946 0958", "00 44 20 7946 0958", "0044 20 7946 0958", "011 1 415 555 0132",
	"00 1 415 555 0132", "001 415 555 0132", "810 7 495 123 4567", "0011 61 2 1234 5678",
	// Other countries with '+'.
	"+44 20 7946 0958", "+44 020 7946 0958", "+4402079460958 ", "+44 7911 123456", "+44 1800 20 1234",
	"+44 180020 1234", "+49 30 123456", "+49 030 123456", "+49 1512 3456789", "+33 1 23 45 67 89",
	"+33 01 23 45 67 89", "+39 06 1234 5678", "+39 312 345 6789", "+34 612 34 56 78",
	"+61 2 1234 5678", "+61 02 1234 5678", "+81 3-1234-5678", "+86 10 1234 5678", "+91 98765 43210",
	"+91 098765 43210", "+7 495 123-45-67", "+7 8 495 123-45-67", "+55 11 91234-5678",
	"+54 9 11 1234-5678", "+52 55 1234 5678", "+52 1 55 1234 5678", "+353 1 234 5678",
	"+800 1234 5678", "+808 1234 5678", "+870 123 456 789", "+882 1234 5678", "+883 1234 5678",
	"+979 1 2345 6789", "+999 123 4567", "+0 415 555 0132", "+00 44 20 7946 0958", "+01 415 555 0132",
	"+2 123 4567", "+21 123 4567", "+210 123 4567", "+290 1234", "+247 1234", "+888 1234 5678",
	"+1 242 555 0132", "+1 (868) 555 0132", "+12", "+123", "+1234", "+441", "+4412",
	// National numbers under non-US regions.
	"020 7946 0958", "07911 123456", "030 123456", "01 23 45 67 89", "06 12345678",
	"98765 43210", "098765 43210", "(11) 91234-5678", "011 15 1234-5678",
	// Extensions, letters, vanity numbers, URIs.
	"415-555-0132 x12", "415-555-0132 ext. 12", "415-555-0132 #12", "415-555-0132;ext=12",
	"415-555-0132,,12", "415-555-0132,12", "415-555-0132 - 12#", "(530) 583-6985 x302/x2303",
	"1-800-FLOWERS", "1-800-GOT-JUNK", "415-555-ABCD", "415-555-01AB", "tel:+1-415-555-0132",
	"tel:415-555-0132;phone-context=+1", "tel:+1-415-555-0132;isub=12", ";phone-context=+44",
	"+1 415 555 0132 ext 5", "Phone: 415 555 0132", "abc", "x", "#", "*415#", "415*555*0132",
	"415/555/0132", "415~555~0132", "415_555_0132", "415,555,0132", "415;555;0132", "[415] 555 0132",
	// Unicode digits, plus signs and dashes.
	"＋１ ４１５ ５５５ ０１３２", "٤١٥٥٥٥٠١٣٢", "۴۱۵۵۵۵۰۱۳۲", "415‐555‐0132", "415–555–0132",
	"415−555−0132", "415 555 0132", "४१५५५५०१३२", "\uff0b14155550132", "4155550132\u200b",
	// Length limits and garbage.
	strings.Repeat("4", 250), strings.Repeat("4", 251), "+" + strings.Repeat("1", 20),
	strings.Repeat(" ", 249) + "4155550132", "4155550132" + strings.Repeat(" ", 245),
	"\x00", "\xff\xfe", "4155550132\x00", "-", "()", "(((", "+-", "+()",
}

// referenceE164 is plain phonenumbers, the contract the fast path must match.
func referenceE164(raw, region string) (out string, ok bool) {
	defer func() {
		if recover() != nil {
			out, ok = "", false
		}
	}()
	num, err := phonenumbers.Parse(raw, region)
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return "", false
	}
	return phonenumbers.Format(num, phonenumbers.E164), true
}

// checkAgainstReference fails t when p disagrees with phonenumbers on raw, either
// through AppendE164 or through the fast path on its own.
func checkAgainstReference(t *testing.T, p *Phone, raw string) {
	t.Helper()
	want, wantOK := referenceE164(raw, p.region)
	got, err := p.AppendE164([]byte("prefix:"), []byte(raw))
	if wantOK != (err == nil) || wantOK && string(got) != "prefix:"+want {
		t.Fatalf("region %s, input %q: AppendE164 = %q, %v; phonenumbers = %q, ok=%v", p.region, raw, got, err, want, wantOK)
	}
	if err == nil {
		return
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "phone" {
		t.Fatalf("region %s, input %q: error %v is not a phone FieldError", p.region, raw, err)
	}
	// Both paths use the same words for the same refusal.
	if _, msg := slowE164([]byte(raw), p.region); fe.Msg != msg {
		t.Fatalf("region %s, input %q: error %q, phonenumbers path says %q", p.region, raw, fe.Msg, msg)
	}
	var buf [maxE164]byte
	switch n, v := p.fast([]byte(raw), &buf); v {
	case fastAccept:
		if !wantOK || string(buf[:n]) != want {
			t.Fatalf("region %s, input %q: fast path accepted %q; phonenumbers = %q, ok=%v", p.region, raw, buf[:n], want, wantOK)
		}
	case fastNotPossible:
		if wantOK {
			t.Fatalf("region %s, input %q: fast path refused; phonenumbers = %q", p.region, raw, want)
		}
	}
}

func phonesForRegions(t testing.TB) []*Phone {
	t.Helper()
	ps := make([]*Phone, len(diffRegions))
	for i, r := range diffRegions {
		p, err := NewPhone(r)
		if err != nil {
			t.Fatal(err)
		}
		ps[i] = p
	}
	return ps
}

func TestPhoneMatchesPhonenumbers(t *testing.T) {
	for _, p := range phonesForRegions(t) {
		t.Run(p.region, func(t *testing.T) {
			for _, raw := range trickyPhones {
				checkAgainstReference(t, p, raw)
			}
		})
	}
}

// TestPhoneMatchesPhonenumbersEveryCallingCode runs the '+' fast path over every
// calling code and every national-number length, which is where the per-country
// possible-length table could go wrong.
func TestPhoneMatchesPhonenumbersEveryCallingCode(t *testing.T) {
	p, err := NewPhone("US")
	if err != nil {
		t.Fatal(err)
	}
	for cc := 1; cc < 1000; cc++ {
		if len(phonenumbers.GetRegionCodesForCountryCode(cc)) == 0 {
			// Unknown codes all take the same road; one number each is enough.
			checkAgainstReference(t, p, fmt.Sprintf("+%d23456789", cc))
			continue
		}
		for l := 0; l <= 18; l++ {
			for _, first := range []string{"2", "0", "1", "8", "9"} {
				nsn := ""
				if l > 0 {
					nsn = first + strings.Repeat("3", l-1)
				}
				checkAgainstReference(t, p, fmt.Sprintf("+%d%s", cc, nsn))
			}
		}
	}
}

// TestPhoneRandomFastAlphabet compares both paths on random strings drawn from the
// fast path's own alphabet: half free-form, half built like real numbers (a prefix,
// 7 to 13 digits, separators sprinkled in). That is the region of input space where
// a wrong proof in the fast path would show.
func TestPhoneRandomFastAlphabet(t *testing.T) {
	const alphabet = "0123456789012345678911111+ -.()\t"
	const seps = " -.() \t"
	prefixes := []string{"", "", "+", "+1", "1", "++", " +", "(", "\t", "+44", "0", "00", "011"}
	rng := rand.New(rand.NewPCG(1, 2))
	ps := phonesForRegions(t)
	n := 2000
	if testing.Short() {
		n = 500
	}
	for range n {
		var b []byte
		if rng.IntN(2) == 0 {
			b = make([]byte, 1+rng.IntN(18))
			for i := range b {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
		} else {
			b = append(b, prefixes[rng.IntN(len(prefixes))]...)
			for range 7 + rng.IntN(7) {
				if rng.IntN(4) == 0 {
					b = append(b, seps[rng.IntN(len(seps))])
				}
				b = append(b, byte('0'+rng.IntN(10)))
			}
			if rng.IntN(4) == 0 {
				b = append(b, seps[rng.IntN(len(seps))])
			}
		}
		for _, p := range ps {
			checkAgainstReference(t, p, string(b))
		}
	}
}

// TestPhoneFastPathCoversCommonShapes makes sure the speed claim holds: the shapes the
// worker sees most never reach phonenumbers.
func TestPhoneFastPathCoversCommonShapes(t *testing.T) {
	cases := map[string][]string{
		"US": {"(415) 555-0132", "415.555.0132", "+1 415 555 0132", "1-415-555-0132", "4155550132", "+14155550132", " 415 555 0132 ", "+1 555 0132", "+44 20 7946 0958", "+49 30 123456", "+33 1 23 45 67 89", "+39 06 1234 5678", "+91 98765 43210"},
		"CA": {"(604) 555-0132", "1 604 555 0132", "+16045550132"},
		"GB": {"+44 20 7946 0958", "+1 415 555 0132"},
		"DE": {"+49 30 123456", "+14155550132"},
	}
	for region, inputs := range cases {
		p, err := NewPhone(region)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range inputs {
			var buf [maxE164]byte
			if _, v := p.fast([]byte(raw), &buf); v != fastAccept {
				t.Errorf("region %s, input %q: fast path verdict %d, want accept", region, raw, v)
			}
		}
	}
}

func TestNewPhone(t *testing.T) {
	for _, r := range []string{"US", "us", " gb ", "DE", "JM"} {
		if _, err := NewPhone(r); err != nil {
			t.Errorf("NewPhone(%q): %v", r, err)
		}
	}
	for _, r := range []string{"", "ZZ", "001", "USA", "XX"} {
		if _, err := NewPhone(r); err == nil {
			t.Errorf("NewPhone(%q) accepted an unknown region", r)
		}
	}
	// Only NANP regions with literal prefixes get the national fast path.
	for r, want := range map[string]bool{"US": true, "CA": true, "JM": true, "PR": true, "KY": false, "BB": false, "GB": false, "DE": false} {
		p, err := NewPhone(r)
		if err != nil {
			t.Fatal(err)
		}
		if p.nanp != want {
			t.Errorf("NewPhone(%q).nanp = %v, want %v", r, p.nanp, want)
		}
	}
}

func TestPhoneHashed(t *testing.T) {
	p, err := NewPhone("US")
	if err != nil {
		t.Fatal(err)
	}
	want := AppendSHA256Hex(nil, []byte("+14155550132"))
	for _, raw := range []string{"(415) 555-0132", "+1 415 555 0132", "1-800-555-0132x"} {
		got, err := p.AppendHashed(nil, []byte(raw))
		if raw == "1-800-555-0132x" {
			continue // just must not panic
		}
		if err != nil || string(got) != string(want) {
			t.Errorf("AppendHashed(%q) = %s, %v; want %s", raw, got, err, want)
		}
	}
	digest := string(want)
	if got, err := p.Hash(" " + digest + "\n"); err != nil || got != digest {
		t.Errorf("a digest did not pass through: %q, %v", got, err)
	}
	if got, err := p.Hash(strings.ToUpper(digest)); err != nil || got != digest {
		t.Errorf("an upper-case digest = %q, %v; want %s", got, err, digest)
	}
}

// FuzzPhoneDifferential proves the fast path and phonenumbers agree: for every input
// and every region in diffRegions, AppendE164 returns exactly what plain phonenumbers
// (Parse, IsPossibleNumber, Format E164) returns, and refuses exactly what it refuses.
func FuzzPhoneDifferential(f *testing.F) {
	for _, s := range trickyPhones {
		f.Add(s)
	}
	ps := phonesForRegions(f)
	f.Fuzz(func(t *testing.T, raw string) {
		for _, p := range ps {
			checkAgainstReference(t, p, raw)
		}
	})
}
