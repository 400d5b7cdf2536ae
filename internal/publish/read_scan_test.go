package publish

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// refEventID is the event_id of a JSON object read with encoding/json: the first
// top-level key equal to event_id ignoring ASCII case and surrounding spaces.
func refEventID(t *testing.T, b []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		if strings.ToLower(strings.Trim(k.(string), " \t")) != "event_id" {
			continue
		}
		switch raw[0] {
		case '"':
			var s string
			_ = json.Unmarshal(raw, &s)
			if s == "" {
				return nil
			}
			return []byte(s)
		case 'n', '{', '[':
			return nil
		}
		return raw
	}
	if _, err := dec.Token(); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return nil
}

// FuzzRowScan: the scanner judges validity exactly as encoding/json.Valid does and
// finds the event_id encoding/json finds.
func FuzzRowScan(f *testing.F) {
	for _, seed := range []string{
		`{"event_id":"o-1","a":[1,{"b":"]"}]}`, `{"Event_ID ":42}`, `{"event_id":true}`, `{"event_id":null,"event_id":"x"}`,
		`{"event\u005fid":"a\"b"}`, `[{"a":1},{"b":2}]`, `[1,2]`, `{"a":01}`, `{"a":1.}`, `{"a":"\0"}`, "{\"a\":\"\x01\"}", `  {}  `, `{"a":-0.5e+3}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sc := rowScan{ids: &slab{}}
		shape, id, _ := sc.scan(b)
		if (shape != shapeInvalid) != json.Valid(b) {
			t.Fatalf("%q: scan %d, json.Valid %v", b, shape, json.Valid(b))
		}
		if shape == shapeObject && utf8.Valid(b) {
			if want := refEventID(t, b); string(id) != string(want) || (id == nil) != (want == nil) {
				t.Fatalf("%q: event_id %q, encoding/json finds %q", b, id, want)
			}
		}
	})
}
