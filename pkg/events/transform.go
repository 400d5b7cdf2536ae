package events

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/normalize"
)

// futureSlack is how far ahead of the clock an event may be (SPEC §3).
const futureSlack = 10 * time.Minute

// maxReported bounds the per-Transformer sets of reported column names and interned
// custom event names, so a stream of random keys cannot grow them without end.
const maxReported = 1024

// span is a value in the transformer's arena: arena[off:end].
type span struct{ off, end uint32 }

func (s span) present() bool { return s.end > s.off }

// row is one decoded and validated row. All its bytes live in Transformer.arena.
type row struct {
	vals   [numCols]span
	hashed [numHashed]span // SHA-256 hex as sent, of colEmail+i
	id     span            // event_id, given or generated; also set on a rejected row when known
	name   string
	time   int64
	price  normalize.Decimal
	value  normalize.Decimal // the value column
	qty    int64
	ldu    int8  // the limited_data_use column: lduUnset, lduFalse or lduTrue
	ev     int32 // index of its event in Transformer.evs, -1 when not part of one
	next   int32 // next valid row of the same event, -1 at the end
	rej    int32 // index of its Reject in Result.Rejects, when rejected
	status rowStatus
	// idReady: the inputs of a generated event_id (event, time, hashed email and
	// phone) are known, so even a row rejected later can be placed in its event.
	idReady bool
	// first decode problem: a nested value or a repeated column (reported by field)
	badCol col
	badMsg string
}

// hash returns the hashed value of column c (colEmail … colZipCode) as sent.
func (r *row) hash(c col) span { return r.hashed[c-colEmail] }

const (
	lduUnset int8 = iota
	lduFalse
	lduTrue
)

type rowStatus uint8

const (
	rowOK rowStatus = iota
	rowRejected
	rowDuplicate
)

// Transformer turns rows into TikTok events for one destination. It keeps scratch
// buffers between calls, so it is not safe for concurrent use: use one per goroutine.
type Transformer struct {
	cfg      Config
	web      bool
	take     [numCols]Use // what this destination's source does with each column
	identity string       // the identity rule's words, for the error of a row without one
	window   int64        // seconds
	phone    *normalize.Phone
	fixed    string // fixed event name, "" when none

	// per input
	res    *Result
	now    int64
	arena  []byte
	rows   []row
	keybuf []byte
	header []col // CSV columns, from SetHeader
	hdrBad col   // a column the CSV header repeats
	evs    []evState
	ids    map[string]int32

	// per Transformer: what was already reported, and interned custom names
	reported map[string]struct{}
	names    map[string]string

	// the last message Message read and its rows' spans, and an index of rows built
	// for another message by DeadLetterRow: dead letters never re-parse a message
	// once per row
	last, dlMsg        []byte
	lastSpans, dlSpans []span
}

// NewTransformer checks cfg and returns a Transformer for it. An invalid setting is
// reported by name (event_source, window, phone_region, fixed_event_name).
func NewTransformer(cfg Config) (*Transformer, error) {
	t := &Transformer{cfg: cfg}
	if !slices.Contains(Sources(), cfg.EventSource) {
		return nil, fmt.Errorf("event_source %q: use %s", cfg.EventSource, strings.Join(Sources(), ", "))
	}
	t.web = cfg.EventSource == SourceWeb
	var ids []string
	for c := range numCols {
		t.take[c] = columnTable[c].Use(cfg.EventSource)
		if columnTable[c].Identity && t.take[c] != Dropped {
			ids = append(ids, columnTable[c].Name)
		}
	}
	t.identity = fmt.Sprintf("%s events need %s to match a person; the row has none", cfg.EventSource, orList(ids))
	w := cfg.Window
	if w == 0 {
		w = DefaultWindow
	}
	if w < time.Second || w > DefaultWindow {
		return nil, fmt.Errorf("window %v: must be between 1s and %v (TikTok's 28-day attribution window)", cfg.Window, DefaultWindow)
	}
	t.window = int64(w / time.Second)
	region := cfg.PhoneRegion
	if region == "" {
		region = "US"
	}
	p, err := normalize.NewPhone(region)
	if err != nil {
		return nil, err
	}
	t.phone = p
	if cfg.FixedEventName != "" {
		name, msg := t.checkName([]byte(cfg.FixedEventName))
		if msg != "" {
			return nil, fmt.Errorf("fixed_event_name %q: %s", cfg.FixedEventName, msg)
		}
		t.fixed = name
	}
	if t.cfg.Now == nil {
		t.cfg.Now = time.Now
	}
	return t, nil
}

// Message transforms one NATS message: one JSON object (one row) or a JSON array of
// objects. res is reset first; its buffers are reused, so the caller must copy what it
// keeps past the next call (or pass a fresh Result). A message that cannot be decoded
// returns an error wrapping ErrMalformed and leaves res empty.
func (t *Transformer) Message(msg []byte, res *Result) error {
	t.Reset(res)
	i := skipWS(msg, 0)
	if i >= len(msg) {
		return t.malformed("it is empty")
	}
	switch msg[i] {
	case '{':
		end, ok := t.addObjectAt(msg, i)
		if !ok || skipWS(msg, end) != len(msg) {
			return t.malformed("it is not one JSON object")
		}
	case '[':
		err := SplitArray(msg, func(off int, elem []byte) bool {
			if len(elem) == 0 || elem[0] != '{' {
				return false
			}
			end, ok := t.addObjectAt(msg, off)
			return ok && end == off+len(elem)
		})
		if err != nil {
			return t.malformed("it is not a JSON array of objects")
		}
	default:
		return t.malformed("it is neither a JSON object nor an array of objects")
	}
	t.Finish()
	t.res.msg = msg
	t.last = msg
	t.lastSpans = append(t.lastSpans[:0], t.res.spans...)
	return nil
}

func (t *Transformer) malformed(why string) error {
	res := t.res
	t.Reset(res)
	t.res = nil
	return fmt.Errorf("%w: %s (send one row object or an array of row objects)", ErrMalformed, why)
}

// SplitArray calls fn with each element of the JSON array in data and the element's
// byte offset, until fn returns false. It returns an error wrapping ErrMalformed when
// data is not a well-formed array (or fn stopped early); elements before the fault
// have been passed to fn. Elements are checked only for balanced brackets and tokens;
// row objects get their full check when decoded.
func SplitArray(data []byte, fn func(off int, elem []byte) bool) error {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '[' {
		return fmt.Errorf("%w: not a JSON array", ErrMalformed)
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == ']' {
		if skipWS(data, i+1) != len(data) {
			return fmt.Errorf("%w: data after the array", ErrMalformed)
		}
		return nil
	}
	for {
		i = skipWS(data, i)
		end, ok := skipValue(data, i)
		if !ok {
			return fmt.Errorf("%w: element at byte %d is not valid JSON", ErrMalformed, i)
		}
		if !fn(i, data[i:end]) {
			return fmt.Errorf("%w: element at byte %d is not a row object", ErrMalformed, i)
		}
		i = skipWS(data, end)
		if i >= len(data) {
			return fmt.Errorf("%w: the array is not closed", ErrMalformed)
		}
		switch data[i] {
		case ',':
			i++
		case ']':
			if skipWS(data, i+1) != len(data) {
				return fmt.Errorf("%w: data after the array", ErrMalformed)
			}
			return nil
		default:
			return fmt.Errorf("%w: expected , or ] at byte %d", ErrMalformed, i)
		}
	}
}

// Reset starts a new input whose rows are added with AddObject or AddRecord and
// turned into events by Finish. Message does all three; worker preview uses them to
// treat a whole file as one input, so line items merge across it. res is cleared and
// its buffers kept.
func (t *Transformer) Reset(res *Result) {
	res.Rows = 0
	res.Events = res.Events[:0]
	res.Rejects = res.Rejects[:0]
	res.Duplicates = res.Duplicates[:0]
	res.Ignored = res.Ignored[:0]
	res.buf = res.buf[:0]
	res.rowIdx = res.rowIdx[:0]
	res.spans = res.spans[:0]
	res.msg = nil
	t.res = res
	t.last = nil
	t.now = t.cfg.Now().Unix()
	t.arena = t.arena[:0]
	t.rows = t.rows[:0]
	t.evs = t.evs[:0]
	if t.ids != nil {
		clear(t.ids)
	}
}

// AddObject adds one row given as a JSON object and returns its row index. When obj
// is not a single JSON object the row is rejected as malformed_message and ok is false.
func (t *Transformer) AddObject(obj []byte) (idx int, ok bool) {
	i := skipWS(obj, 0)
	if i < len(obj) && obj[i] == '{' {
		var end int
		if end, ok = t.addObjectAt(obj, i); ok && skipWS(obj, end) == len(obj) {
			return len(t.rows) - 1, true
		}
		if ok { // a valid object followed by more data: undo the row
			t.rows = t.rows[:len(t.rows)-1]
			t.res.spans = t.res.spans[:len(t.res.spans)-1]
			t.res.Rows--
		}
	}
	idx = t.newRow()
	t.reject(idx, ReasonMalformedMessage, "", "the line is not one JSON object")
	return idx, false
}

func (t *Transformer) newRow() int {
	t.rows = append(t.rows, row{ev: -1, next: -1, badCol: colUnknown})
	t.res.spans = append(t.res.spans, span{})
	t.res.Rows++
	return len(t.rows) - 1
}

func (t *Transformer) reject(idx int, reason Reason, field, msg string) {
	t.rows[idx].status = rowRejected
	t.rows[idx].rej = int32(len(t.res.Rejects))
	t.res.Rejects = append(t.res.Rejects, Reject{Row: idx, Reason: reason, Field: field, Err: msg})
}

// addObjectAt decodes the object at data[i] into a new row and validates it. ok is
// false (and no row is added) when the object is not well-formed JSON.
func (t *Transformer) addObjectAt(data []byte, i int) (end int, ok bool) {
	arenaMark := len(t.arena)
	idx := t.newRow()
	r := &t.rows[idx]
	undo := func() (int, bool) {
		t.rows = t.rows[:idx]
		t.res.spans = t.res.spans[:idx]
		t.res.Rows--
		t.arena = t.arena[:arenaMark]
		return 0, false
	}
	start := i
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		t.res.spans[idx] = span{uint32(start), uint32(i + 1)}
		t.validate(idx)
		return i + 1, true
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return undo()
		}
		kend, kesc, ok := scanString(data, i)
		if !ok {
			return undo()
		}
		key := data[i+1 : kend-1]
		if kesc {
			if t.keybuf, ok = appendUnescaped(t.keybuf[:0], key); !ok {
				return undo()
			}
			key = t.keybuf
		}
		i = skipWS(data, kend)
		if i >= len(data) || data[i] != ':' {
			return undo()
		}
		i = skipWS(data, i+1)
		if i >= len(data) {
			return undo()
		}
		c := t.column(key)
		var val []byte
		var vesc bool
		switch ch := data[i]; {
		case ch == '"':
			vend, esc, ok := scanString(data, i)
			if !ok {
				return undo()
			}
			val, vesc = data[i+1:vend-1], esc
			i = vend
		case ch == '{' || ch == '[':
			vend, ok := skipValue(data, i)
			if !ok {
				return undo()
			}
			i = vend
			if c != colUnknown && r.badCol == colUnknown {
				r.badCol, r.badMsg = c, "is a nested object or array; rows must be flat (strings, numbers, booleans)"
			}
			c = colUnknown
		case ch == 'n':
			vend, ok := scanLiteral(data, i, "null")
			if !ok {
				return undo()
			}
			i = vend // null: absent
		default: // number, true, false: kept as their literal text
			vend, ok := skipValue(data, i)
			if !ok {
				return undo()
			}
			val = data[i:vend]
			i = vend
		}
		if c != colUnknown && len(val) > 0 {
			if r.vals[c].present() {
				if r.badCol == colUnknown {
					r.badCol, r.badMsg = c, "appears twice in the row"
				}
			} else {
				off := len(t.arena)
				if vesc {
					if t.arena, ok = appendUnescaped(t.arena, val); !ok {
						return undo()
					}
				} else {
					t.arena = append(t.arena, val...)
				}
				r.vals[c] = span{uint32(off), uint32(len(t.arena))}
			}
		}
		i = skipWS(data, i)
		if i >= len(data) {
			return undo()
		}
		switch data[i] {
		case ',':
			i = skipWS(data, i+1)
		case '}':
			t.res.spans[idx] = span{uint32(start), uint32(i + 1)}
			t.validate(idx)
			return i + 1, true
		default:
			return undo()
		}
	}
}

// column maps a key to its column, or to colUnknown for a column this destination
// ignores (unknown, or not taken by its source: see Columns); each ignored name is
// reported once per Transformer in Result.Ignored.
func (t *Transformer) column(key []byte) col {
	c := lookupCol(key)
	switch {
	case c == colUnknown:
		t.report(key, c)
	case t.take[c] == Dropped:
		t.report(key, c)
	default:
		return c
	}
	return colUnknown
}

func (t *Transformer) report(key []byte, c col) {
	if _, ok := t.reported[string(key)]; ok || len(t.reported) >= maxReported {
		return
	}
	if t.reported == nil {
		t.reported = make(map[string]struct{})
	}
	t.reported[string(key)] = struct{}{}
	why := "unknown column"
	if c != colUnknown {
		why = fmt.Sprintf("%s events do not take this column (it is for %s events); dropped", t.cfg.EventSource, c.takenBy())
	}
	t.res.Ignored = append(t.res.Ignored, IgnoredColumn{Name: reportedName(key), Why: why})
}

// SetHeader sets the CSV header for the AddRecord calls that follow. Columns are
// matched like JSON keys; ignored ones are reported in Result.Ignored.
func (t *Transformer) SetHeader(header []string) {
	t.header = t.header[:0]
	t.hdrBad = colUnknown
	var seen [numCols]bool
	for _, h := range header {
		c := t.column([]byte(h))
		if c != colUnknown {
			if seen[c] && t.hdrBad == colUnknown {
				t.hdrBad = c
			}
			seen[c] = true
		}
		t.header = append(t.header, c)
	}
}

// AddRecord adds one CSV record, read against the header given to SetHeader, and
// returns its row index.
func (t *Transformer) AddRecord(record []string) int {
	idx := t.newRow()
	r := &t.rows[idx]
	if len(record) != len(t.header) {
		t.reject(idx, ReasonInvalidRow, "", fmt.Sprintf("the record has %d fields but the header has %d", len(record), len(t.header)))
		return idx
	}
	if t.hdrBad != colUnknown {
		r.badCol, r.badMsg = t.hdrBad, "appears twice in the header"
	}
	for j, v := range record {
		c := t.header[j]
		if c == colUnknown || v == "" || r.vals[c].present() {
			continue
		}
		off := len(t.arena)
		t.arena = append(t.arena, v...)
		r.vals[c] = span{uint32(off), uint32(len(t.arena))}
	}
	t.validate(idx)
	return idx
}

// AddMalformed adds a row that could not be decoded at all (a line that is not JSON,
// a CSV record with broken quotes), rejected as malformed_message with msg, and
// returns its index. worker preview uses it so that a broken line is reported in
// place and the run goes on.
func (t *Transformer) AddMalformed(msg string) int {
	idx := t.newRow()
	t.reject(idx, ReasonMalformedMessage, "", msg)
	return idx
}

// Grow makes room for about rows more rows holding size bytes of input in total, so
// that a large input (worker preview on a file) is not copied again and again as the
// buffers grow. It is only a hint; call it after Reset.
func (t *Transformer) Grow(rows, size int) {
	t.rows = slices.Grow(t.rows, rows)
	// decoded values, plus two hashes and an event id per row
	t.arena = slices.Grow(t.arena, size+rows*(64+64+36))
	if t.res != nil {
		t.res.spans = slices.Grow(t.res.spans, rows)
		t.res.Events = slices.Grow(t.res.Events, rows)
		t.res.rowIdx = slices.Grow(t.res.rowIdx, rows)
		// an event is about as long as its row, plus the hashes
		t.res.buf = slices.Grow(t.res.buf, size+rows*128)
	}
}
