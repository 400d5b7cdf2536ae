package tiktoktest

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// The /event/track/ body is read in one pass by a strict JSON scanner that takes
// only the common, unambiguous shape: distinct lower-case keys, the expected types,
// names and ids without escapes. Anything else — a syntax error, an escape, a null,
// a repeated or upper-case key (encoding/json matches keys case-insensitively, the
// last repeat wins) — is left to the encoding/json reference (decodeSlow,
// checkEvent), for the whole body or for one event, so every verdict and every
// message stays exactly the reference's. TestFastMatchesReference and
// FuzzFastMatchesReference hold the two together.

// trackBody is a decoded /event/track/ body.
type trackBody struct {
	src, srcID *string // nil when absent or null
	testCode   string
	events     []trackEvent
}

// trackEvent is one element of data: its bytes, and what the fast path read of it.
type trackEvent struct {
	raw  []byte // the element as sent (a json.RawMessage)
	fast bool   // the fields below were read; otherwise checkEvent decides

	name, id, time []byte // event and event_id (no escapes), event_time's token
	// present has the bit of every field of fieldsOf the event carries (any value);
	// filled of those that are a non-empty string. Hashed fields were checked.
	present, filled uint64
}

// checked is an event that passed every check.
type checked struct {
	name string
	id   []byte
	time int64
	raw  []byte
}

// decodeSlow is the reference: encoding/json over the whole body.
func decodeSlow(body []byte) (trackBody, int, string) {
	var env struct {
		EventSource   *string           `json:"event_source"`
		EventSourceID *string           `json:"event_source_id"`
		TestEventCode string            `json:"test_event_code"`
		Data          []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return trackBody{}, 40000, "Invalid request: the body is not valid JSON (" + err.Error() + ")."
	}
	tb := trackBody{src: env.EventSource, srcID: env.EventSourceID, testCode: env.TestEventCode,
		events: make([]trackEvent, len(env.Data))}
	for i, raw := range env.Data {
		tb.events[i].raw = raw
	}
	return tb, 0, ""
}

// validate decodes body and checks it as TikTok does, in TikTok's order; code 0
// means every event passed. reference forces the encoding/json path (tests).
func (s *Server) validate(body []byte, reference bool) (trackBody, []checked, int, string) {
	var tb trackBody
	if reference || !decodeFast(body, &tb) {
		var code int
		var msg string
		if tb, code, msg = decodeSlow(body); code != 0 {
			return tb, nil, code, msg
		}
	}
	var rules *sourceRules
	if tb.src != nil {
		rules = fieldsOf.source(*tb.src)
	}
	if rules == nil {
		return tb, nil, 40002, "Invalid value for event_source: it must be " + fieldsOf.sourceList + "."
	}
	if tb.srcID == nil || *tb.srcID == "" {
		return tb, nil, 40002, "Invalid value for event_source_id: it is required."
	}
	src, srcID := *tb.src, *tb.srcID
	if !s.knownSource(src, srcID) {
		// TikTok answers 40002 here, not a permission code: seen in the wild for an
		// offline request sent with a Pixel code.
		if src != "web" && !allDigits(srcID) {
			return tb, nil, 40002, "Invalid value for event_source_id: not a valid string."
		}
		kind := map[string]string{"web": "a Pixel code", "offline": "an offline event set", "crm": "a CRM event set"}[src]
		return tb, nil, 40002, fmt.Sprintf("Invalid value for event_source_id: %s is not %s this access token may use.", srcID, kind)
	}
	if len(tb.events) == 0 {
		return tb, nil, 40002, "Invalid value for data: at least one event is required."
	}
	if len(tb.events) > MaxEvents {
		return tb, nil, 40002, fmt.Sprintf("Invalid value for data: at most %d events per request, got %d.", MaxEvents, len(tb.events))
	}
	s.mu.Lock()
	poison := len(s.poison) > 0
	s.mu.Unlock()
	out := make([]checked, len(tb.events))
	for i := range tb.events {
		ev := &tb.events[i]
		c, ok := ev.check(rules, reference)
		if !ok {
			// The reference decides, and words the refusal.
			a, code, msg := checkEvent(rules, i, ev.raw)
			if code != 0 {
				return tb, nil, code, msg
			}
			c = checked{name: a.Event, id: []byte(a.EventID), time: a.EventTime, raw: ev.raw}
		}
		if poison {
			s.mu.Lock()
			bad := s.poison[string(c.id)]
			s.mu.Unlock()
			if bad {
				return tb, nil, 40002, fmt.Sprintf("Invalid value for data[%d]: event %s was refused.", i, c.id)
			}
		}
		out[i] = c
	}
	return tb, out, 0, ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// check is checkEvent on what the fast path read; false leaves the event to
// checkEvent (it was not read, or it fails a check and checkEvent words why).
func (ev *trackEvent) check(src *sourceRules, reference bool) (checked, bool) {
	if reference || !ev.fast || len(ev.name) == 0 {
		return checked{}, false
	}
	if ev.present&src.dropped != 0 || ev.filled&src.required != src.required || ev.present&src.identity == 0 {
		return checked{}, false
	}
	name, known := names[string(ev.name)]
	if !src.web && !known {
		return checked{}, false
	}
	if !known {
		// A case-mismatched standard name is refused; strings.ToLower folds
		// more than ASCII (the Kelvin sign lowers to k), so non-ASCII names go
		// to the reference.
		var buf [32]byte
		lower, ascii := buf[:0], true
		for _, c := range ev.name {
			if c >= utf8.RuneSelf {
				ascii = false
				break
			}
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			lower = append(lower, c)
		}
		if !ascii {
			return checked{}, false
		}
		if _, ok := lowerStandard[string(lower)]; ok {
			return checked{}, false
		}
		name = string(ev.name)
	}
	t, ok := parsePositive(ev.time)
	if !ok {
		return checked{}, false
	}
	return checked{name: name, id: ev.id, time: t, raw: ev.raw}, true
}

// names interns the standard and legacy names: the common event costs no string.
var names = func() map[string]string {
	m := map[string]string{}
	for n := range standard {
		m[n] = n
	}
	for n := range legacy {
		m[n] = n
	}
	return m
}()

// parsePositive is strconv.ParseInt(tok, 10, 64) > 0 for the tokens it takes: up
// to 18 digits. Anything else (a sign, a fraction, an exponent, more digits) goes
// to the reference.
func parsePositive(tok []byte) (int64, bool) {
	if len(tok) == 0 || len(tok) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range tok {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, n > 0
}

// maxFastDepth bounds the scanner's recursion; deeper bodies (encoding/json allows
// 10,000 levels) go to the reference.
const maxFastDepth = 512

// scanner is a strict JSON scanner (RFC 8259 as encoding/json reads it).
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str reads the string at s.i; lo:hi is its content between the quotes, esc
// whether it holds an escape.
func (s *scanner) str() (lo, hi int, esc, ok bool) {
	b, i := s.b, s.i
	if i >= len(b) || b[i] != '"' {
		return 0, 0, false, false
	}
	i++
	lo = i
	for i < len(b) {
		// Plain bytes first, in a tight loop.
		for i < len(b) && plainByte[b[i]] {
			i++
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			s.i = i + 1
			return lo, i, esc, true
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return 0, 0, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					return 0, 0, false, false
				}
				i += 6
			default:
				return 0, 0, false, false
			}
		case c < 0x20:
			return 0, 0, false, false
		default:
			i++
		}
	}
	return 0, 0, false, false
}

// plainByte is true for a string byte that needs no attention: not a quote, a
// backslash or a control character.
var plainByte = func() (t [256]bool) {
	for i := range t {
		t[i] = i >= 0x20 && i != '"' && i != '\\'
	}
	return t
}()

func isHex4(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// num reads the number at s.i.
func (s *scanner) num() bool {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		j := i
		for i < len(b) && isDigit(b[i]) {
			i++
		}
		if i == j {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := i
		for i < len(b) && isDigit(b[i]) {
			i++
		}
		if i == j {
			return false
		}
	}
	s.i = i
	return true
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// value skips (and validates) the value at s.i.
func (s *scanner) value(depth int) bool {
	switch c := s.peek(); {
	case c == '"':
		_, _, _, ok := s.str()
		return ok
	case c == '{' || c == '[':
		if depth >= maxFastDepth {
			return false
		}
		end, more, ok := s.open()
		for ok && more {
			if c == '{' {
				if _, _, ok = s.key(); !ok {
					return false
				}
			}
			if !s.value(depth + 1) {
				return false
			}
			more, ok = s.next(end)
		}
		return ok
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || isDigit(c):
		return s.num()
	}
	return false
}

// open consumes '{' or '[' and the blanks after it; more is false for an empty one.
func (s *scanner) open() (end byte, more, ok bool) {
	switch s.peek() {
	case '{':
		end = '}'
	case '[':
		end = ']'
	default:
		return 0, false, false
	}
	s.i++
	s.ws()
	if s.peek() == end {
		s.i++
		return end, false, true
	}
	return end, true, true
}

// key reads `"key" :` and the blanks around; plain is false when the key could
// match a field only case-insensitively or through an escape.
func (s *scanner) key() (k []byte, plain, ok bool) {
	lo, hi, esc, ok := s.str()
	if !ok {
		return nil, false, false
	}
	s.ws()
	if s.peek() != ':' {
		return nil, false, false
	}
	s.i++
	s.ws()
	k = s.b[lo:hi]
	plain = !esc
	for _, c := range k {
		if ('A' <= c && c <= 'Z') || c >= utf8.RuneSelf {
			plain = false
		}
	}
	return k, plain, true
}

// next consumes the blanks, then ',' (more follows) or end.
func (s *scanner) next(end byte) (more, ok bool) {
	s.ws()
	switch s.peek() {
	case ',':
		s.i++
		s.ws()
		return true, true
	case end:
		s.i++
		return false, true
	}
	return false, false
}

// plainString reads a string without escapes in valid UTF-8 (its bytes are its value).
func (s *scanner) plainString() ([]byte, bool) {
	lo, hi, esc, ok := s.str()
	if !ok || esc || !utf8.Valid(s.b[lo:hi]) {
		return nil, false
	}
	return s.b[lo:hi], true
}

// decodeFast reads body into tb; false means the reference must decode it.
func decodeFast(body []byte, tb *trackBody) bool {
	s := &scanner{b: body}
	s.ws()
	end, more, ok := s.open()
	if !ok || end != '}' {
		return false
	}
	var seenSrc, seenID, seenCode, seenData bool
	for more {
		k, plain, ok := s.key()
		if !ok || !plain {
			return false
		}
		switch string(k) {
		case "event_source", "event_source_id", "test_event_code":
			v, ok := s.plainString()
			if !ok {
				return false
			}
			str := string(v)
			switch string(k) {
			case "event_source":
				if seenSrc {
					return false
				}
				seenSrc, tb.src = true, &str
			case "event_source_id":
				if seenID {
					return false
				}
				seenID, tb.srcID = true, &str
			default:
				if seenCode {
					return false
				}
				seenCode, tb.testCode = true, str
			}
		case "data":
			if seenData || !s.data(tb) {
				return false
			}
			seenData = true
		default:
			if !s.value(1) {
				return false
			}
		}
		if more, ok = s.next('}'); !ok {
			return false
		}
	}
	s.ws()
	return s.i == len(body)
}

// data reads the data array; an element the fast path cannot read is kept for
// the reference, a syntax error fails the whole body.
func (s *scanner) data(tb *trackBody) bool {
	if s.peek() != '[' {
		return false
	}
	tb.events = make([]trackEvent, 0, min(MaxEvents+1, len(s.b)/128+1))
	_, more, ok := s.open()
	for ok && more {
		start := s.i
		var ev trackEvent
		if !s.event(&ev) {
			s.i = start
			if !s.value(2) {
				return false
			}
			ev = trackEvent{}
		}
		ev.raw = s.b[start:s.i:s.i]
		tb.events = append(tb.events, ev)
		more, ok = s.next(']')
	}
	return ok
}

// event reads one event object; false means the reference must read it.
func (s *scanner) event(ev *trackEvent) bool {
	var seen uint16
	if !s.object(ev, fieldsOf.root, &seen, 3) {
		return false
	}
	ev.fast = true
	return true
}

// object reads one object of an event (the event itself, user, a contents item, …)
// as fieldsOf shapes it, noting the fields it carries in ev; seen has the bits of
// the nested objects read so far. Keys the table does not name are skipped. A
// repeated or non-plain key, or an unusual value of a field, leaves the event to the
// reference.
func (s *scanner) object(ev *trackEvent, o *object, seen *uint16, depth int) bool {
	end, more, ok := s.open()
	if !ok || end != '}' {
		return false
	}
	var keys uint64 // fields met in this object (contents items repeat theirs)
	for more {
		k, plain, ok := s.key()
		if !ok || !plain {
			return false
		}
		switch m := o.lookup(k); {
		case m == nil:
			if !s.value(depth + 1) {
				return false
			}
		case m.child != nil:
			c := m.child
			if *seen&c.bit != 0 {
				return false
			}
			*seen |= c.bit
			if c.array {
				ok = s.items(ev, c, seen, depth+1)
			} else {
				ok = s.object(ev, c, seen, depth+1)
			}
			if !ok {
				return false
			}
		default:
			f := &fieldsOf.fields[m.field]
			if keys&f.bit != 0 || !s.field(ev, m.field, f, depth+1) {
				return false
			}
			keys |= f.bit
			ev.present |= f.bit
		}
		if more, ok = s.next('}'); !ok {
			return false
		}
	}
	return true
}

// items reads an array of objects o (contents).
func (s *scanner) items(ev *trackEvent, o *object, seen *uint16, depth int) bool {
	end, more, ok := s.open()
	if !ok || end != ']' {
		return false
	}
	for ok && more {
		if !s.object(ev, o, seen, depth+1) {
			return false
		}
		more, ok = s.next(']')
	}
	return ok
}

// field reads the value of field i: the basics into ev, any other value whole.
func (s *scanner) field(ev *trackEvent, i int, f *field, depth int) bool {
	var ok bool
	switch lo := s.i; i {
	case fieldsOf.event:
		ev.name, ok = s.plainString()
	case fieldsOf.eventID:
		ev.id, ok = s.plainString()
	case fieldsOf.eventTime:
		ok = s.num()
		ev.time = s.b[lo:s.i]
	default:
		if !s.value(depth) {
			return false
		}
		v := s.b[lo:s.i]
		if f.hashed && !fastHashed(v) {
			return false
		}
		if len(v) > 2 && v[0] == '"' {
			// Any escape decodes to at least one character: only emptiness matters.
			ev.filled |= f.bit
		}
		ok = true
	}
	return ok
}

// fastHashed is hashed for the shapes the worker sends (a quoted digest or an array
// of them, no escapes); false leaves the value to the reference.
func fastHashed(v []byte) bool {
	if len(v) == 66 && v[0] == '"' && v[65] == '"' {
		return isHex64(v[1:65])
	}
	if len(v) > 0 && v[0] == '[' {
		ok, sure := hashedArray(v)
		return ok && sure
	}
	return false
}

// hashedArray is the common array case of hashed: quoted hashes, no escapes.
func hashedArray(v []byte) (ok, sure bool) {
	s := &scanner{b: v}
	_, more, open := s.open()
	if !open || !more {
		return false, false
	}
	for more {
		lo, hi, esc, ok := s.str()
		if !ok || esc {
			return false, false
		}
		if !isHex64(v[lo:hi]) {
			return false, true
		}
		if more, ok = s.next(']'); !ok {
			return false, false
		}
	}
	s.ws()
	return s.i == len(v), s.i == len(v)
}
