package events

import (
	"fmt"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/normalize"
)

// DeadLetterRow returns row i of msg as a JSON object in the form a dead letter
// carries: the row's columns as received, but with email, phone and external_id
// replaced by their SHA-256 hex where they were valid (hashed values pass through, so a
// replayed row is sent as before).
//
// A PII value that is not valid (an address without @, a number that is not a
// possible phone number) stays as it came: the dead-letter stream is the operator's
// inspection store, and the row can only be fixed and replayed if the value is still
// there. Its retention (SPEC §5, default 30 days) bounds how long it is kept.
func (t *Transformer) DeadLetterRow(msg []byte, i int) ([]byte, error) {
	obj, err := rowObject(msg, i)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(obj)+128)
	var scratch, key []byte
	p := skipWS(obj, 1)
	out = append(out, '{')
	first := true
	for p < len(obj) && obj[p] == '"' {
		kend, kesc, _ := scanString(obj, p)
		rawKey := obj[p:kend]
		key = append(key[:0], obj[p+1:kend-1]...)
		if kesc {
			key, _ = appendUnescaped(key[:0], obj[p+1:kend-1])
		}
		p = skipWS(obj, kend)
		p = skipWS(obj, p+1) // ':'
		vend, _ := skipValue(obj, p)
		rawVal := obj[p:vend]
		p = skipWS(obj, vend)
		if p < len(obj) && obj[p] == ',' {
			p = skipWS(obj, p+1)
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, rawKey...)
		out = append(out, ':')
		c := lookupCol(key)
		if (c == colEmail || c == colPhone || c == colExternalID) && len(rawVal) > 0 && rawVal[0] != 'n' {
			v := rawVal
			if v[0] == '"' {
				var ok bool
				if scratch, ok = appendUnescaped(scratch[:0], v[1:len(v)-1]); !ok {
					out = append(out, rawVal...)
					continue
				}
				v = scratch
			}
			if h, ok := t.hashPII(c, v); ok {
				out = appendJSONString(out, h)
				continue
			}
		}
		out = append(out, rawVal...)
	}
	return append(out, '}'), nil
}

// hashPII returns the hashed form of a PII value, or false when it is not valid.
func (t *Transformer) hashPII(c col, v []byte) ([]byte, bool) {
	if len(v) == 0 {
		return nil, false
	}
	var buf [64]byte
	var err error
	var h []byte
	switch c {
	case colEmail:
		h, err = normalize.AppendHashedEmail(buf[:0], v)
	case colPhone:
		h, err = t.phone.AppendHashed(buf[:0], v)
	default:
		h, err = normalize.AppendHashedExternalID(buf[:0], v)
	}
	return h, err == nil
}

// rowObject returns the bytes of row i of msg (one object, or element i of an array),
// checking that it decodes as a row.
func rowObject(msg []byte, i int) ([]byte, error) {
	p := skipWS(msg, 0)
	if p < len(msg) && msg[p] == '{' {
		end, ok := skipValue(msg, p)
		if !ok || skipWS(msg, end) != len(msg) {
			return nil, fmt.Errorf("%w: not one JSON object", ErrMalformed)
		}
		if i != 0 {
			return nil, fmt.Errorf("row %d: the message holds one row", i)
		}
		return msg[p:end], nil
	}
	var obj []byte
	n := 0
	err := SplitArray(msg, func(_ int, elem []byte) bool {
		if len(elem) == 0 || elem[0] != '{' {
			return false
		}
		if n == i {
			obj = elem
		}
		n++
		return true
	})
	if err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, fmt.Errorf("row %d: the message holds %d rows", i, n)
	}
	return obj, nil
}
