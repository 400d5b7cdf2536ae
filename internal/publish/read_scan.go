package publish

import (
	"bytes"
	"encoding/json"
)

// rowScan checks one JSON value strictly (as encoding/json.Valid judges it: RFC 8259
// syntax, no control characters in strings, nesting up to 10,000 deep) in one pass
// without building anything, and picks out what the reader needs: whether the value
// is an object or an array of objects, how many elements an array has, and an
// object's event_id.
type rowScan struct {
	b     []byte
	i     int
	depth int
	ids   *slab
}

// The shapes of a scanned value.
const (
	shapeInvalid = iota
	shapeObject
	shapeArrayOfObjects
	shapeOther
)

const maxNesting = 10000 // encoding/json's own limit

// scan reads b as exactly one JSON value (white space around it allowed).
func (s *rowScan) scan(b []byte) (shape int, id []byte, elems int) {
	s.b, s.i, s.depth = b, 0, 0
	s.ws()
	if s.i >= len(b) {
		return shapeInvalid, nil, 0
	}
	switch b[s.i] {
	case '{':
		var ok bool
		if id, ok = s.object(true); !ok {
			return shapeInvalid, nil, 0
		}
		shape = shapeObject
	case '[':
		all, n, ok := s.array()
		if !ok {
			return shapeInvalid, nil, 0
		}
		shape, elems = shapeOther, n
		if all {
			shape = shapeArrayOfObjects
		}
	default:
		if !s.value() {
			return shapeInvalid, nil, 0
		}
		shape = shapeOther
	}
	s.ws()
	if s.i != len(b) {
		return shapeInvalid, nil, 0
	}
	return shape, id, elems
}

func (s *rowScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *rowScan) value() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		_, ok := s.object(false)
		return ok
	case c == '[':
		_, _, ok := s.array()
		return ok
	case c == '"':
		_, _, ok := s.str()
		return ok
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

// object reads the object at s.i; at the top (top) it returns the event_id: the
// first key that is event_id ignoring ASCII case and surrounding spaces; a string's
// contents, or the literal text of a number or boolean (so 42 and "42" group
// together); nil for null, "", a nested value or no such key.
func (s *rowScan) object(top bool) (id []byte, ok bool) {
	if s.depth++; s.depth > maxNesting {
		return nil, false
	}
	s.i++ // '{'
	s.ws()
	found := false
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		s.depth--
		return nil, true
	}
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return nil, false
		}
		ks, ke, kesc, ok := s.strSpan()
		if !ok {
			return nil, false
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return nil, false
		}
		s.i++
		s.ws()
		isID := top && !found && isEventIDKey(s.key(ks, ke, kesc))
		start := s.i
		if !s.value() {
			return nil, false
		}
		if isID {
			found = true
			id = s.idOf(start, s.i)
		}
		s.ws()
		if s.i >= len(s.b) {
			return nil, false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			s.depth--
			return id, true
		default:
			return nil, false
		}
	}
}

// array reads the array at s.i: whether every element is an object, and how many.
func (s *rowScan) array() (allObjects bool, n int, ok bool) {
	if s.depth++; s.depth > maxNesting {
		return false, 0, false
	}
	s.i++ // '['
	s.ws()
	allObjects = true
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		s.depth--
		return true, 0, true
	}
	for {
		if s.i >= len(s.b) {
			return false, 0, false
		}
		allObjects = allObjects && s.b[s.i] == '{'
		if !s.value() {
			return false, 0, false
		}
		n++
		s.ws()
		if s.i >= len(s.b) {
			return false, 0, false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.ws()
		case ']':
			s.i++
			s.depth--
			return allObjects, n, true
		default:
			return false, 0, false
		}
	}
}

func (s *rowScan) str() (start, end int, ok bool) {
	start, end, _, ok = s.strSpan()
	return start, end, ok
}

// strSpan reads the string at s.i and returns its contents' bounds and whether they
// hold escapes.
func (s *rowScan) strSpan() (start, end int, esc, ok bool) {
	s.i++ // '"'
	start = s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return start, s.i - 1, esc, true
		case c < 0x20:
			return 0, 0, false, false
		case c == '\\':
			esc = true
			if s.i+1 >= len(s.b) {
				return 0, 0, false, false
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return 0, 0, false, false
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !('0' <= h && h <= '9' || 'a' <= h|0x20 && h|0x20 <= 'f') {
						return 0, 0, false, false
					}
				}
				s.i += 6
			default:
				return 0, 0, false, false
			}
		default:
			s.i++
		}
	}
	return 0, 0, false, false
}

func (s *rowScan) number() bool {
	b, i := s.b, s.i
	digits := func() int {
		n := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	s.i = i
	return true
}

func (s *rowScan) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// key is a key's text; an escaped one (rare) is decoded.
func (s *rowScan) key(start, end int, esc bool) []byte {
	if !esc {
		return s.b[start:end]
	}
	var k string
	if json.Unmarshal(s.b[start-1:end+1], &k) != nil {
		return nil
	}
	return []byte(k)
}

// idOf is the event_id of the value in b[start:end] (see object).
func (s *rowScan) idOf(start, end int) []byte {
	v := s.b[start:end]
	switch v[0] {
	case '"':
		inner := v[1 : len(v)-1]
		if bytes.IndexByte(inner, '\\') >= 0 {
			inner = s.key(start+1, end-1, true)
		}
		if len(inner) == 0 {
			return nil
		}
		return s.ids.copy(inner)
	case 'n', '{', '[':
		return nil
	}
	return s.ids.copy(v)
}

func isEventIDKey(k []byte) bool {
	for len(k) > 0 && (k[0] == ' ' || k[0] == '\t') {
		k = k[1:]
	}
	for len(k) > 0 && (k[len(k)-1] == ' ' || k[len(k)-1] == '\t') {
		k = k[:len(k)-1]
	}
	const name = "event_id"
	if len(k) != len(name) {
		return false
	}
	for i, c := range k {
		if c != name[i] && !('A' <= c && c <= 'Z' && c+('a'-'A') == name[i]) {
			return false
		}
	}
	return true
}
