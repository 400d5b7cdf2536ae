package tiktokclient

import (
	"bytes"
	"encoding/json"
)

// CodePartialSuccess is TikTok's code for a request it took with some events failed.
const CodePartialSuccess = 20001

// Partial counts what TikTok's partial-success answers (code 20001) reported. The
// events of such a request are Accepted — TikTok took the request — and TikTok's
// data lists the events it did not take. Only counts are kept: TikTok's message for
// an event may quote the event's values.
//
// The shape of data on 20001 is not documented where we looked (TikTok's Events
// API 2.0 pages and error-code list, its tiktok-business-api-sdk, and
// bububa/tiktok-business, whose event.Track drops the answer's data), so it is read
// tolerantly: every object inside an array in data (up to four levels deep) that
// carries "code", "error_code" or "index" counts as one failed event, by its code
// (0 when it carries none) — e.g. {"failed_events": [{"index": 3, "code": 40002,
// "message": "…"}]}, or data being that array itself.
type Partial struct {
	Answers  int         // answers with code 20001
	Failed   int         // events those answers listed as not taken
	ByCode   map[int]int // Failed by TikTok's code for each event (0: none given)
	Unlisted int         // 20001 answers whose data listed no event that could be read
}

// add counts one 20001 answer's data.
func (p *Partial) add(data json.RawMessage) {
	p.Answers++
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n := 0
	if len(data) > 0 && dec.Decode(&v) == nil {
		n = p.walk(v, 0, false)
	}
	if n == 0 {
		p.Unlisted++
	}
	p.Failed += n
}

// walk counts the failed-event entries under v; inArray says v is an array element.
func (p *Partial) walk(v any, depth int, inArray bool) int {
	if depth > 4 {
		return 0
	}
	n := 0
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			n += p.walk(e, depth+1, true)
		}
	case map[string]any:
		if inArray {
			code, isEntry := 0, false
			for _, k := range [...]string{"code", "error_code"} {
				if c, ok := x[k].(json.Number); ok {
					if i, err := c.Int64(); err == nil {
						code, isEntry = int(i), true
						break
					}
				}
			}
			if _, ok := x["index"]; ok {
				isEntry = true
			}
			if isEntry {
				if p.ByCode == nil {
					p.ByCode = map[int]int{}
				}
				p.ByCode[code]++
				return 1
			}
		}
		for _, e := range x {
			n += p.walk(e, depth+1, false)
		}
	}
	return n
}
