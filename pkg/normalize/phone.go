package normalize

import (
	"fmt"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// Limits that phonenumbers.Parse applies to every input.
const (
	maxPhoneInput = 250 // phonenumbers.MAX_INPUT_STRING_LENGTH: longer input is refused
	maxNSN        = 17  // phonenumbers.MAX_LENGTH_FOR_NSN
	minNSN        = 2   // phonenumbers.MIN_LENGTH_FOR_NSN
	maxE164       = 1 + 3 + maxNSN
)

// The messages of the two ways a phone number is refused. The fast path uses the
// second only where phonenumbers would certainly parse the number and then find its
// length impossible, so both paths say the same words for the same input.
const (
	msgNotPhone    = "is not a phone number"
	msgNotPossible = "is not a possible phone number (wrong length)"
)

// Phone normalizes phone numbers to E.164 for one default region. It is immutable and
// safe for concurrent use.
//
// AppendE164 gives exactly what phonenumbers.Parse(raw, region) followed by
// IsPossibleNumber and Format(E164) gives, for every input. Common shapes (a '+'
// number whose country has simple national-prefix rules, and US-style numbers when the
// region allows it) are decoded by a hand-written scanner; everything else goes to
// phonenumbers itself. FuzzPhoneDifferential checks the two agree byte for byte.
type Phone struct {
	region string
	codes  *callingCodes

	// nanp is set when numbers without '+' written as NPA-NXX-XXXX, with or without a
	// leading 1, provably take the same route through phonenumbers as they do for
	// the US; see nanpFastRegion.
	nanp bool
	idd  string   // the region's international prefix (a literal digit string)
	npp  []string // the region's national prefixes for parsing (literal digit strings)
}

// NewPhone returns a normalizer whose numbers without a country code belong to region
// (an ISO 3166-1 alpha-2 code such as "US"; case does not matter).
func NewPhone(region string) (*Phone, error) {
	r := strings.ToUpper(strings.TrimSpace(region))
	if phonenumbers.GetCountryCodeForRegion(r) == 0 {
		return nil, fmt.Errorf("phone_region %q is not a region phonenumbers knows; use an ISO 3166-1 code such as US or GB", region)
	}
	codes := loadCallingCodes()
	p := &Phone{region: r, codes: codes}
	p.idd, p.npp, p.nanp = nanpFastRegion(codes, codes.regionMeta[r])
	return p, nil
}

// Region is the default region numbers without a country code belong to.
func (p *Phone) Region() string { return p.region }

// AppendE164 appends the E.164 form (with the +) of raw to dst. On error dst is
// returned unchanged.
func (p *Phone) AppendE164(dst, raw []byte) ([]byte, error) {
	var buf [maxE164]byte
	switch n, v := p.fast(raw, &buf); v {
	case fastAccept:
		return append(dst, buf[:n]...), nil
	case fastNotPossible:
		return dst, fieldErr("phone", msgNotPossible)
	}
	out, msg := slowE164(raw, p.region)
	if msg != "" {
		return dst, fieldErr("phone", msg)
	}
	return append(dst, out...), nil
}

// AppendHashed appends the SHA-256 hex of the E.164 number, or the digest itself
// (lower-cased) when it is already one (see AppendDigest).
func (p *Phone) AppendHashed(dst, raw []byte) ([]byte, error) {
	if out, ok := AppendDigest(dst, raw); ok {
		return out, nil
	}
	var buf [maxE164]byte
	n, err := p.AppendE164(buf[:0], raw)
	if err != nil {
		return dst, err
	}
	return AppendSHA256Hex(dst, n), nil
}

// E164 is the string form of AppendE164, for callers off the hot path.
func (p *Phone) E164(raw string) (string, error) {
	var buf [maxE164]byte
	out, err := p.AppendE164(buf[:0], []byte(raw))
	return string(out), err
}

// Hash is the string form of AppendHashed, for callers off the hot path.
func (p *Phone) Hash(raw string) (string, error) {
	var buf [64]byte
	out, err := p.AppendHashed(buf[:0], []byte(raw))
	return string(out), err
}

// slowE164 is plain phonenumbers: Parse, IsPossibleNumber, Format(E164). It returns the
// refusal message, or "" with the number. A panic inside phonenumbers (it has had
// some on hostile input) counts as "not a phone number" rather than killing the worker.
func slowE164(raw []byte, region string) (e164, msg string) {
	defer func() {
		if recover() != nil {
			e164, msg = "", msgNotPhone
		}
	}()
	num, err := phonenumbers.Parse(string(raw), region)
	if err != nil {
		return "", msgNotPhone
	}
	if !phonenumbers.IsPossibleNumber(num) {
		return "", msgNotPossible
	}
	return phonenumbers.Format(num, phonenumbers.E164), ""
}

// verdict is the fast path's answer.
type verdict uint8

const (
	fastUnsure      verdict = iota // not a shape the fast path proves; ask phonenumbers
	fastAccept                     // out holds the E.164 number
	fastNotPossible                // phonenumbers parses it but IsPossibleNumber is false
)

// fast decodes the shapes whose treatment by phonenumbers is fully determined by a
// few metadata facts read at start-up. Anything it cannot prove it leaves to
// phonenumbers (fastUnsure); it never refuses what it does not understand.
//
// The shapes: ASCII digits with the separators ' ', '-', '.', '(' and ')' anywhere,
// ASCII white space before the number only (phonenumbers skips leading junk, but
// refuses a tab or newline inside or after the number), and optionally a run of '+'
// before the first digit. No letters at all, so no extensions ("x12", "ext. 3"), no
// vanity numbers, no "tel:" URIs, and no '#', ',', ';', '/', '~' or '*', which
// phonenumbers reads as extension or second-number marks.
func (p *Phone) fast(raw []byte, out *[maxE164]byte) (int, verdict) {
	if len(raw) == 0 || len(raw) > maxPhoneInput {
		return 0, fastUnsure
	}
	var d [maxE164]byte // the digits, in order
	nd := 0
	plus, started := false, false
	var prev byte
	for _, c := range raw {
		switch c {
		case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			if nd == len(d) {
				return 0, fastUnsure
			}
			d[nd] = c
			nd++
			started = true
		case '+':
			// phonenumbers accepts a run of pluses before the digits, nothing else.
			if nd > 0 || (plus && prev != '+') {
				return 0, fastUnsure
			}
			plus, started = true, true
		case ' ', '-', '.', '(', ')':
		case '\t', '\n', '\v', '\f', '\r':
			if started {
				return 0, fastUnsure
			}
		default:
			return 0, fastUnsure
		}
		prev = c
	}
	if plus {
		return p.codes.international(d[:nd], out)
	}
	if !p.nanp {
		return 0, fastUnsure
	}
	return p.national(d[:nd], out)
}

// national handles 10-digit NANP numbers whose area code starts 2–9, bare or after a
// leading 1. For such input phonenumbers, with a region that passed nanpFastRegion:
//   - finds no international prefix (the region's is a literal absent from the start),
//   - for "1" + 10 digits strips the 1 as the country code, because 11 digits are
//     TOO_LONG for the region, then strips no national prefix (checked below),
//   - for 10 digits takes them as the national number and strips no national
//     prefix (checked below),
//   - and finds 10 digits a possible length for +1.
func (p *Phone) national(d []byte, out *[maxE164]byte) (int, verdict) {
	var nsn []byte
	switch {
	case len(d) == 10 && d[0] >= '2':
		nsn = d
	case len(d) == 11 && d[0] == '1' && d[1] >= '2':
		nsn = d[1:]
	default:
		return 0, fastUnsure
	}
	if hasPrefix(d, p.idd) || hasAnyPrefix(nsn, p.npp) {
		return 0, fastUnsure
	}
	us := &p.codes.info[1]
	if hasAnyPrefix(nsn, us.npp) || us.lenMask&(1<<len(nsn)) == 0 {
		return 0, fastUnsure
	}
	out[0], out[1] = '+', '1'
	return 2 + copy(out[2:], nsn), fastAccept
}

// international handles the digits after a leading '+'. phonenumbers takes the
// shortest prefix (1 to 3 digits) that is a known calling code as the country code,
// strips the national prefix of that code's main region when the rest starts with
// it, and checks the length of what remains against that region's possible lengths.
// The fast path takes only codes whose national prefixes are literal digit strings,
// and only when the rest does not start with one, so nothing is stripped and the
// E.164 form is '+' and the digits as written.
func (c *callingCodes) international(d []byte, out *[maxE164]byte) (int, verdict) {
	if len(d) <= minNSN || d[0] == '0' {
		return 0, fastUnsure
	}
	cc := 0
	for i := 0; i < 3 && i < len(d); i++ {
		cc = cc*10 + int(d[i]-'0')
		info := &c.info[cc]
		if !info.known {
			continue
		}
		nsn := d[i+1:]
		if !info.fast || len(nsn) < minNSN || len(nsn) > maxNSN || hasAnyPrefix(nsn, info.npp) {
			return 0, fastUnsure
		}
		if info.lenMask&(1<<len(nsn)) == 0 {
			return 0, fastNotPossible
		}
		out[0] = '+'
		return 1 + copy(out[1:], d), fastAccept
	}
	return 0, fastUnsure
}

func hasPrefix(b []byte, prefix string) bool {
	return prefix != "" && len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

func hasAnyPrefix(b []byte, prefixes []string) bool {
	for _, np := range prefixes {
		if hasPrefix(b, np) {
			return true
		}
	}
	return false
}

// callingCodes is what the fast path needs to know about each calling code, derived
// once from phonenumbers' own metadata and never changed afterwards.
type callingCodes struct {
	info       [1000]codeInfo
	regionMeta map[string]*phonenumbers.PhoneMetadata
}

type codeInfo struct {
	known   bool     // phonenumbers recognizes the code after a '+'
	fast    bool     // the national prefixes below are all there is to know
	lenMask uint32   // bit L set: phonenumbers.IsPossibleNumber holds for an L-digit NSN
	npp     []string // national prefixes for parsing of the code's main region
}

// loadCallingCodes builds the table on first use. It is a pure function of the
// metadata compiled into phonenumbers, so one shared copy is as good as many.
var loadCallingCodes = sync.OnceValue(func() *callingCodes {
	c := &callingCodes{regionMeta: make(map[string]*phonenumbers.PhoneMetadata)}
	main := make(map[int]*phonenumbers.PhoneMetadata)
	if coll, err := phonenumbers.MetadataCollection(); err == nil {
		for _, m := range coll.GetMetadata() {
			cc := int(m.GetCountryCode())
			if m.GetId() != "001" {
				c.regionMeta[m.GetId()] = m
			}
			if 0 < cc && cc < len(c.info) && phonenumbers.GetRegionCodeForCountryCode(cc) == m.GetId() {
				main[cc] = m
			}
		}
	}
	for cc := 1; cc < len(c.info); cc++ {
		if len(phonenumbers.GetRegionCodesForCountryCode(cc)) == 0 {
			continue
		}
		info := &c.info[cc]
		info.known = true
		m := main[cc]
		if m == nil {
			continue
		}
		npp, ok := literalAlternatives(m.GetNationalPrefixForParsing())
		if !ok {
			continue
		}
		// Ask phonenumbers itself which lengths it calls possible, rather than
		// re-implementing its reading of the metadata.
		code := int32(cc)
		for l, first := 1, uint64(1); l <= maxNSN; l, first = l+1, first*10 {
			nn := first
			num := &phonenumbers.PhoneNumber{CountryCode: &code, NationalNumber: &nn}
			if phonenumbers.IsPossibleNumber(num) {
				info.lenMask |= 1 << l
			}
		}
		info.npp, info.fast = npp, true
	}
	return c
})

// literalAlternatives splits a national-prefix-for-parsing pattern such as "0" or
// "0|180020" into its literal alternatives. ok is false when the pattern is a real
// regular expression (groups, classes, anchors), which the fast path leaves alone.
func literalAlternatives(pattern string) (alts []string, ok bool) {
	if pattern == "" {
		return nil, true
	}
	for _, alt := range strings.Split(pattern, "|") {
		if alt == "" || strings.Trim(alt, "0123456789") != "" {
			return nil, false
		}
		alts = append(alts, alt)
	}
	return alts, true
}

// nanpFastRegion decides whether numbers without '+' may take the national fast path
// for a region, and returns the facts that path checks at run time. It holds for a
// NANP region (calling code 1) whose international and national prefixes are literal
// digit strings and for which 11 digits are TOO_LONG (the trigger for phonenumbers
// to strip a leading 1 as the country code). The Caribbean regions whose national
// prefix is a pattern that prepends their area code to 7-digit numbers fail the test
// and use phonenumbers throughout.
func nanpFastRegion(c *callingCodes, m *phonenumbers.PhoneMetadata) (idd string, npp []string, ok bool) {
	if m == nil || m.GetCountryCode() != 1 || !c.info[1].fast {
		return "", nil, false
	}
	idd = m.GetInternationalPrefix()
	if idd == "" || strings.Trim(idd, "0123456789") != "" {
		return "", nil, false
	}
	npp, ok = literalAlternatives(m.GetNationalPrefixForParsing())
	if !ok {
		return "", nil, false
	}
	gd := m.GetGeneralDesc()
	lengths, local := gd.GetPossibleLength(), gd.GetPossibleLengthLocalOnly()
	if len(lengths) == 0 || lengths[0] == -1 || gd.GetNationalNumberPattern() == "" {
		return "", nil, false
	}
	for _, l := range lengths {
		if l >= 11 {
			return "", nil, false
		}
	}
	for _, l := range local {
		if l == 11 {
			return "", nil, false
		}
	}
	return idd, npp, true
}
