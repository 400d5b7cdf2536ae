package normalize

import (
	"bytes"

	"golang.org/x/text/language"
)

const msgNotCountry = "is not an ISO 3166-1 country code (two letters, e.g. US)"

// AppendCountry appends the lower-case ISO 3166-1 alpha-2 code of raw: a two-letter
// code (any case, surrounding space trimmed), or a three-letter alpha-3 code, which is
// turned into its alpha-2 form. Codes are checked with golang.org/x/text/language:
// deprecated ones become their successor (UK → gb), and codes that name no country
// (EU, ZZ, private-use codes such as AA or QO) are refused.
func AppendCountry(dst, raw []byte) ([]byte, error) {
	v := bytes.TrimSpace(raw)
	if len(v) == 0 {
		return dst, fieldErr("country", "is blank")
	}
	if len(v) != 2 && len(v) != 3 {
		return dst, fieldErr("country", msgNotCountry)
	}
	var up [3]byte
	if !upperLetters(up[:len(v)], v) {
		return dst, fieldErr("country", msgNotCountry)
	}
	r, err := language.ParseRegion(string(up[:len(v)]))
	if err != nil || !r.IsCountry() {
		return dst, fieldErr("country", msgNotCountry)
	}
	code := r.Canonicalize().String()
	if len(code) != 2 {
		return dst, fieldErr("country", msgNotCountry)
	}
	return append(dst, code[0]|0x20, code[1]|0x20), nil
}

// AppendHashedCountry appends the SHA-256 hex of AppendCountry's form, or the digest
// itself (lower-cased) when raw already is one.
func AppendHashedCountry(dst, raw []byte) ([]byte, error) {
	if out, ok := AppendDigest(dst, raw); ok {
		return out, nil
	}
	var buf [2]byte
	n, err := AppendCountry(buf[:0], raw)
	if err != nil {
		return dst, err
	}
	return AppendSHA256Hex(dst, n), nil
}

// subdivision is a state, province or territory: its two-letter code and the names
// it is written as (lower case).
type subdivision struct {
	code  string
	names []string
}

// subdivisions lists, per country (lower-case alpha-2), the two-letter codes that
// country's addresses use. A state of one of these countries must be one of them, by
// code or by name.
var subdivisions = map[string][]subdivision{
	"us": {
		{"al", []string{"alabama"}}, {"ak", []string{"alaska"}}, {"az", []string{"arizona"}},
		{"ar", []string{"arkansas"}}, {"ca", []string{"california"}}, {"co", []string{"colorado"}},
		{"ct", []string{"connecticut"}}, {"de", []string{"delaware"}},
		{"dc", []string{"district of columbia", "washington dc", "washington d.c."}},
		{"fl", []string{"florida"}}, {"ga", []string{"georgia"}}, {"hi", []string{"hawaii"}},
		{"id", []string{"idaho"}}, {"il", []string{"illinois"}}, {"in", []string{"indiana"}},
		{"ia", []string{"iowa"}}, {"ks", []string{"kansas"}}, {"ky", []string{"kentucky"}},
		{"la", []string{"louisiana"}}, {"me", []string{"maine"}}, {"md", []string{"maryland"}},
		{"ma", []string{"massachusetts"}}, {"mi", []string{"michigan"}}, {"mn", []string{"minnesota"}},
		{"ms", []string{"mississippi"}}, {"mo", []string{"missouri"}}, {"mt", []string{"montana"}},
		{"ne", []string{"nebraska"}}, {"nv", []string{"nevada"}}, {"nh", []string{"new hampshire"}},
		{"nj", []string{"new jersey"}}, {"nm", []string{"new mexico"}}, {"ny", []string{"new york"}},
		{"nc", []string{"north carolina"}}, {"nd", []string{"north dakota"}}, {"oh", []string{"ohio"}},
		{"ok", []string{"oklahoma"}}, {"or", []string{"oregon"}}, {"pa", []string{"pennsylvania"}},
		{"ri", []string{"rhode island"}}, {"sc", []string{"south carolina"}},
		{"sd", []string{"south dakota"}}, {"tn", []string{"tennessee"}}, {"tx", []string{"texas"}},
		{"ut", []string{"utah"}}, {"vt", []string{"vermont"}}, {"va", []string{"virginia"}},
		{"wa", []string{"washington"}}, {"wv", []string{"west virginia"}},
		{"wi", []string{"wisconsin"}}, {"wy", []string{"wyoming"}},
		{"as", []string{"american samoa"}}, {"gu", []string{"guam"}},
		{"mp", []string{"northern mariana islands"}}, {"pr", []string{"puerto rico"}},
		{"vi", []string{"u.s. virgin islands", "us virgin islands", "virgin islands"}},
		{"um", []string{"united states minor outlying islands"}},
		{"aa", nil}, {"ae", nil}, {"ap", nil}, // armed forces
	},
	"ca": {
		{"ab", []string{"alberta"}}, {"bc", []string{"british columbia"}}, {"mb", []string{"manitoba"}},
		{"nb", []string{"new brunswick"}}, {"nl", []string{"newfoundland and labrador", "newfoundland"}},
		{"ns", []string{"nova scotia"}}, {"nt", []string{"northwest territories"}},
		{"nu", []string{"nunavut"}}, {"on", []string{"ontario"}},
		{"pe", []string{"prince edward island"}}, {"qc", []string{"quebec", "québec"}},
		{"sk", []string{"saskatchewan"}}, {"yt", []string{"yukon"}},
	},
}

// AppendState appends a state normalized for matching. country is the row's country
// as AppendCountry gives it (nil when unknown). For a country whose states have
// two-letter codes (the US and Canada), the state must be one: given as the code or as
// the full name ("New York" → ny), anything else is refused. For other countries, or
// when the country is unknown, the state is trimmed and lower-cased as given.
func AppendState(dst, raw, country []byte) ([]byte, error) {
	v := bytes.TrimSpace(raw)
	if len(v) == 0 {
		return dst, fieldErr("state", "is blank")
	}
	var buf [maxTextStack]byte
	n, err := appendFolded("state", buf[:0], v)
	if err != nil {
		return dst, err
	}
	cc := lowerCode(country)
	subs, ok := subdivisions[string(cc[:])]
	if !ok {
		return append(dst, n...), nil
	}
	for _, s := range subs {
		if string(n) == s.code {
			return append(dst, s.code...), nil
		}
		for _, name := range s.names {
			if string(n) == name {
				return append(dst, s.code...), nil
			}
		}
	}
	if string(cc[:]) == "ca" {
		return dst, fieldErr("state", "is not a Canadian province or territory (a two-letter code such as ON, or its name)")
	}
	return dst, fieldErr("state", "is not a US state (a two-letter code such as NY, or its name)")
}

// AppendHashedState appends the SHA-256 hex of AppendState's form, or the digest itself
// (lower-cased) when raw already is one.
func AppendHashedState(dst, raw, country []byte) ([]byte, error) {
	if out, ok := AppendDigest(dst, raw); ok {
		return out, nil
	}
	var buf [maxTextStack]byte
	n, err := AppendState(buf[:0], raw, country)
	if err != nil {
		return dst, err
	}
	return AppendSHA256Hex(dst, n), nil
}

// AppendZipCode appends a postal code normalized for matching: lower-cased, every
// white space removed ("SW1A 1AA" → sw1a1aa). For the US (country "us", or unknown and
// the value shaped like a ZIP code) a ZIP+4 ("94107-1234", "941071234") is cut to its
// five digits; a US postal code that is not five digits or ZIP+4 is refused.
func AppendZipCode(dst, raw, country []byte) ([]byte, error) {
	v := bytes.TrimSpace(raw)
	if len(v) == 0 {
		return dst, fieldErr("zip_code", "is blank")
	}
	var buf [maxTextStack]byte
	n, err := appendFolded("zip_code", buf[:0], v)
	if err != nil {
		return dst, err
	}
	// drop the single spaces appendFolded left between words
	w := 0
	for _, c := range n {
		if c != ' ' {
			n[w] = c
			w++
		}
	}
	n = n[:w]
	cc := lowerCode(country)
	us := string(cc[:]) == "us"
	usLike := us || len(country) == 0
	switch {
	case usLike && len(n) == 5 && allDigits(n):
	case usLike && (len(n) == 10 && allDigits(n[:5]) && n[5] == '-' && allDigits(n[6:]) ||
		len(n) == 9 && allDigits(n)):
		n = n[:5]
	case us:
		return dst, fieldErr("zip_code", "is not a US ZIP code (five digits, or ZIP+4: five digits, a dash and four digits)")
	}
	return append(dst, n...), nil
}

// AppendHashedZipCode appends the SHA-256 hex of AppendZipCode's form, or the digest
// itself (lower-cased) when raw already is one.
func AppendHashedZipCode(dst, raw, country []byte) ([]byte, error) {
	if out, ok := AppendDigest(dst, raw); ok {
		return out, nil
	}
	var buf [maxTextStack]byte
	n, err := AppendZipCode(buf[:0], raw, country)
	if err != nil {
		return dst, err
	}
	return AppendSHA256Hex(dst, n), nil
}

// lowerCode returns a two-letter country code lower-cased, or zeros when country is
// not two bytes long.
func lowerCode(country []byte) (cc [2]byte) {
	if len(country) == 2 {
		cc[0], cc[1] = country[0]|0x20, country[1]|0x20
	}
	return cc
}

// upperLetters writes v upper-cased into dst (of v's length) and reports whether v
// is ASCII letters only.
func upperLetters(dst, v []byte) bool {
	for i, c := range v {
		if !('a' <= c|0x20 && c|0x20 <= 'z') {
			return false
		}
		dst[i] = c &^ 0x20
	}
	return true
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
