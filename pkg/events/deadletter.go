package events

import (
	"fmt"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/normalize"
)

// DeadLetterRow returns row i of msg as a JSON object in the form a dead letter
// carries: the row's columns as received, but with the hashed columns (email, phone,
// external_id, first_name, last_name, city, state, country, zip_code) replaced by
// their SHA-256 hex where they were valid (hashed values pass through, so a replayed
// row is sent as before).
//
// A PII value that is not valid (an address without @, a number that is not a
// possible phone number) stays as it came: the dead-letter stream is the operator's
// inspection store, and the row can only be fixed and replayed if the value is still
// there. Its retention (SPEC §5, default 30 days) bounds how long it is kept.
//
// The row is found without parsing the message again when msg is the message this
// Transformer's last Message call read (its rows' byte offsets were recorded then);
// for another message the rows are indexed once and the index is kept for the next
// call with the same message, so dead-lettering every row of a message is linear.
// DeadLetter does the same from a Result.
func (t *Transformer) DeadLetterRow(msg []byte, i int) ([]byte, error) {
	if sameBytes(msg, t.last) {
		return t.deadLetter(msg, t.lastSpans, i)
	}
	if !sameBytes(msg, t.dlMsg) {
		spans, err := indexRows(msg, t.dlSpans[:0])
		if err != nil {
			t.dlMsg, t.dlSpans = nil, spans[:0]
			return nil, err
		}
		t.dlMsg, t.dlSpans = msg, spans
	}
	return t.deadLetter(msg, t.dlSpans, i)
}

// DeadLetter is DeadLetterRow for a message whose Result is at hand: when res is what
// Message(msg, res) gave (by any Transformer of the destination), the row's bytes come
// from the offsets recorded then; otherwise it falls back to DeadLetterRow.
func (t *Transformer) DeadLetter(res *Result, msg []byte, i int) ([]byte, error) {
	if !sameBytes(msg, res.msg) || len(res.spans) != res.Rows {
		return t.DeadLetterRow(msg, i)
	}
	return t.deadLetter(msg, res.spans, i)
}

// sameBytes reports whether a and b are the same slice of the same memory.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && len(a) > 0 && &a[0] == &b[0]
}

// indexRows appends the span of each row of msg (one object, or the elements of an
// array of objects) to spans.
func indexRows(msg []byte, spans []span) ([]span, error) {
	p := skipWS(msg, 0)
	if p < len(msg) && msg[p] == '{' {
		end, ok := skipValue(msg, p)
		if !ok || skipWS(msg, end) != len(msg) {
			return spans, fmt.Errorf("%w: not one JSON object", ErrMalformed)
		}
		return append(spans, span{uint32(p), uint32(end)}), nil
	}
	err := SplitArray(msg, func(off int, elem []byte) bool {
		if len(elem) == 0 || elem[0] != '{' {
			return false
		}
		spans = append(spans, span{uint32(off), uint32(off + len(elem))})
		return true
	})
	return spans, err
}

func (t *Transformer) deadLetter(msg []byte, spans []span, i int) ([]byte, error) {
	if i < 0 || i >= len(spans) {
		return nil, fmt.Errorf("row %d: the message holds %d rows", i, len(spans))
	}
	s := spans[i]
	if !s.present() || int(s.end) > len(msg) || msg[s.off] != '{' {
		return nil, fmt.Errorf("row %d: not a row object of the message", i)
	}
	return t.deadLetterObject(msg[s.off:s.end]), nil
}

// deadLetterObject rewrites one row object, hashing the valid values of the hashed
// columns.
func (t *Transformer) deadLetterObject(obj []byte) []byte {
	country := t.rowCountry(obj)
	out := make([]byte, 0, len(obj)+128)
	var scratch []byte
	out = append(out, '{')
	first := true
	forEachMember(obj, func(rawKey, key, rawVal []byte) {
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, rawKey...)
		out = append(out, ':')
		if c := lookupCol(key); c != colUnknown && columnTable[c].Hashed {
			if v, ok := stringValue(rawVal, &scratch); ok {
				if h, ok := t.hashPII(c, v, country); ok {
					out = appendJSONString(out, h)
					return
				}
			}
		}
		out = append(out, rawVal...)
	})
	return append(out, '}')
}

// rowCountry returns the row's normalized country (for state and zip_code), or nil.
func (t *Transformer) rowCountry(obj []byte) []byte {
	var country, scratch []byte
	forEachMember(obj, func(_, key, rawVal []byte) {
		if lookupCol(key) != colCountry {
			return
		}
		if v, ok := stringValue(rawVal, &scratch); ok {
			if cc, err := normalize.AppendCountry(nil, v); err == nil {
				country = cc
			}
		}
	})
	return country
}

// forEachMember calls fn with each member of a well-formed JSON object: the key as
// written (with quotes), the key decoded, and the value as written.
func forEachMember(obj []byte, fn func(rawKey, key, rawVal []byte)) {
	var key []byte
	p := skipWS(obj, 1)
	for p < len(obj) && obj[p] == '"' {
		kend, kesc, _ := scanString(obj, p)
		key = append(key[:0], obj[p+1:kend-1]...)
		if kesc {
			key, _ = appendUnescaped(key[:0], obj[p+1:kend-1])
		}
		rawKey := obj[p:kend]
		p = skipWS(obj, kend)
		p = skipWS(obj, p+1) // ':'
		vend, _ := skipValue(obj, p)
		rawVal := obj[p:vend]
		p = skipWS(obj, vend)
		if p < len(obj) && obj[p] == ',' {
			p = skipWS(obj, p+1)
		}
		fn(rawKey, key, rawVal)
	}
}

// stringValue returns the text of a scalar JSON value (a string decoded into
// *scratch, or a number's or boolean's literal); false for null, objects and arrays.
func stringValue(raw []byte, scratch *[]byte) ([]byte, bool) {
	if len(raw) == 0 || raw[0] == 'n' || raw[0] == '{' || raw[0] == '[' {
		return nil, false
	}
	if raw[0] != '"' {
		return raw, true
	}
	var ok bool
	*scratch, ok = appendUnescaped((*scratch)[:0], raw[1:len(raw)-1])
	return *scratch, ok && len(*scratch) > 0
}

// hashPII returns the hashed form of a value of hashed column c, or false when it is
// not valid.
func (t *Transformer) hashPII(c col, v, country []byte) ([]byte, bool) {
	var buf [64]byte
	h, err := t.appendHashed(buf[:0], c, v, country)
	return h, err == nil && len(h) > 0
}
