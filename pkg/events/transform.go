package events

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

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
	email  span // SHA-256 hex as sent
	phone  span
	extID  span
	id     span // event_id, given or generated
	name   string
	time   int64
	price  normalize.Decimal
	qty    int64
	ev     int32 // index of its event in Result.Events, -1 when not part of one
	next   int32 // next row of the same event, -1 at the end
	status rowStatus
	// first decode problem: a nested value or a repeated column (reported by field)
	badCol col
	badMsg string
}

type rowStatus uint8

const (
	rowOK rowStatus = iota
	rowRejected
	rowDuplicate
)

// Transformer turns rows into TikTok events for one destination. It keeps scratch
// buffers between calls, so it is not safe for concurrent use: use one per goroutine.
type Transformer struct {
	cfg    Config
	web    bool
	window int64 // seconds
	phone  *normalize.Phone
	fixed  string // fixed event name, "" when none

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
}

// evState is an event being assembled: its rows as a list threaded through row.next,
// and its running value.
type evState struct {
	first, last int32
	value       normalize.Decimal
	hasValue    bool
}

// NewTransformer checks cfg and returns a Transformer for it. An invalid setting is
// reported by name (event_source, window, phone_region, fixed_event_name).
func NewTransformer(cfg Config) (*Transformer, error) {
	t := &Transformer{cfg: cfg}
	switch cfg.EventSource {
	case SourceWeb:
		t.web = true
	case SourceOffline:
	default:
		return nil, fmt.Errorf("event_source %q: use %q or %q", cfg.EventSource, SourceWeb, SourceOffline)
	}
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
			return nil, fmt.Errorf("fixed_event_name: %s", msg[len("event: "):])
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
		err := SplitArray(msg, func(_ int, elem []byte) bool {
			if len(elem) == 0 || elem[0] != '{' {
				return false
			}
			_, ok := t.addObjectAt(elem, 0)
			return ok
		})
		if err != nil {
			return t.malformed("it is not a JSON array of objects")
		}
	default:
		return t.malformed("it is neither a JSON object nor an array of objects")
	}
	t.Finish()
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
	t.res = res
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
			t.res.Rows--
		}
	}
	idx = t.newRow()
	t.reject(idx, ReasonMalformedMessage, "", "the line is not one JSON object")
	return idx, false
}

func (t *Transformer) newRow() int {
	t.rows = append(t.rows, row{ev: -1, next: -1, badCol: colUnknown})
	t.res.Rows++
	return len(t.rows) - 1
}

func (t *Transformer) reject(idx int, reason Reason, field, msg string) {
	t.rows[idx].status = rowRejected
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
		t.res.Rows--
		t.arena = t.arena[:arenaMark]
		return 0, false
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
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
			t.validate(idx)
			return i + 1, true
		default:
			return undo()
		}
	}
}

// column maps a key to its column, or to colUnknown for a column this destination
// ignores; each ignored name is reported once per Transformer in Result.Ignored.
func (t *Transformer) column(key []byte) col {
	c := lookupCol(key)
	why := ""
	switch {
	case c == colUnknown:
		why = "unknown column"
	case c == colValue:
		why = "value is never read from a row: it is computed as the sum of price × quantity"
	case !t.web && c.webOnly():
		why = "web-only column, dropped on an offline destination"
	default:
		return c
	}
	t.report(key, why)
	return colUnknown
}

func (t *Transformer) report(key []byte, why string) {
	if _, ok := t.reported[string(key)]; ok || len(t.reported) >= maxReported {
		return
	}
	if t.reported == nil {
		t.reported = make(map[string]struct{})
	}
	name := string(key)
	t.reported[name] = struct{}{}
	t.res.Ignored = append(t.res.Ignored, IgnoredColumn{Name: name, Why: why})
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

func (t *Transformer) val(r *row, c col) []byte { return t.arena[r.vals[c].off:r.vals[c].end] }

func (t *Transformer) bytes(s span) []byte { return t.arena[s.off:s.end] }

// invalid rejects row idx as invalid_row for field.
func (t *Transformer) invalid(idx int, c col, msg string) {
	t.reject(idx, ReasonInvalidRow, colNames[c], colNames[c]+": "+msg)
}

func (t *Transformer) fieldErr(idx int, c col, err error) {
	var fe *normalize.FieldError
	if errors.As(err, &fe) {
		// FieldError never carries the raw value; name the column we read.
		t.reject(idx, ReasonInvalidRow, colNames[c], colNames[c]+": "+fe.Msg)
		return
	}
	t.invalid(idx, c, "is not valid")
}

// hash appends the hashed form of column c to the arena and returns its span.
func (t *Transformer) hash(r *row, c col) (span, error) {
	v := t.val(r, c)
	off := len(t.arena)
	var err error
	switch c {
	case colEmail:
		t.arena, err = normalize.AppendHashedEmail(t.arena, v)
	case colPhone:
		t.arena, err = t.phone.AppendHashed(t.arena, v)
	default:
		t.arena, err = normalize.AppendHashedExternalID(t.arena, v)
	}
	if err != nil {
		t.arena = t.arena[:off]
		return span{}, err
	}
	return span{uint32(off), uint32(len(t.arena))}, nil
}

// validate applies the rules of SPEC §3 to row idx, in column order, and rejects it
// with the first failure.
func (t *Transformer) validate(idx int) {
	r := &t.rows[idx]
	if r.badCol != colUnknown {
		t.invalid(idx, r.badCol, r.badMsg)
		return
	}
	// timestamp
	if !r.vals[colTimestamp].present() {
		t.invalid(idx, colTimestamp, "is required (ISO 8601, Unix seconds or Unix milliseconds)")
		return
	}
	ts, err := normalize.ParseTimestamp(t.val(r, colTimestamp))
	if err != nil {
		t.fieldErr(idx, colTimestamp, err)
		return
	}
	r.time = ts
	// event
	if r.vals[colEvent].present() {
		name, msg := t.checkName(t.val(r, colEvent))
		if msg != "" {
			t.reject(idx, ReasonInvalidRow, "event", msg)
			return
		}
		r.name = name
	} else if t.fixed != "" {
		r.name = t.fixed
	} else {
		t.invalid(idx, colEvent, "is missing and the destination has no fixed_event_name")
		return
	}
	// event_id
	if r.vals[colEventID].present() {
		if n := utf8.RuneCount(t.val(r, colEventID)); n > 64 {
			t.invalid(idx, colEventID, "is "+strconv.Itoa(n)+" characters long; TikTok allows at most 64")
			return
		}
	}
	// identity
	if r.vals[colEmail].present() {
		if r.email, err = t.hash(r, colEmail); err != nil {
			t.fieldErr(idx, colEmail, err)
			return
		}
	}
	if r.vals[colPhone].present() {
		if r.phone, err = t.hash(r, colPhone); err != nil {
			t.fieldErr(idx, colPhone, err)
			return
		}
	}
	if t.web {
		if r.vals[colExternalID].present() {
			if r.extID, err = t.hash(r, colExternalID); err != nil {
				t.fieldErr(idx, colExternalID, err)
				return
			}
		}
		if !r.email.present() && !r.phone.present() && !r.extID.present() {
			t.invalid(idx, colEmail, "a web event needs email, phone or external_id to match a user; the row has none")
			return
		}
		if r.vals[colIP].present() {
			if _, err := netip.ParseAddr(string(t.val(r, colIP))); err != nil {
				t.invalid(idx, colIP, "is not an IPv4 or IPv6 address")
				return
			}
		}
		if !r.vals[colPageURL].present() {
			t.invalid(idx, colPageURL, "is required for web events (the absolute http(s) URL of the page)")
			return
		}
		if msg := checkURL(t.val(r, colPageURL)); msg != "" {
			t.invalid(idx, colPageURL, msg)
			return
		}
	} else if !r.email.present() && !r.phone.present() {
		t.invalid(idx, colEmail, "an offline event needs email or phone to match a customer; the row has neither")
		return
	}
	// properties
	if r.vals[colCurrency].present() {
		v := t.val(r, colCurrency)
		if len(v) != 3 || !isLetter(v[0]) || !isLetter(v[1]) || !isLetter(v[2]) {
			t.invalid(idx, colCurrency, "is not an ISO 4217 currency code (three letters, e.g. USD)")
			return
		}
		for i := range v {
			v[i] &^= 0x20 // upper case, in our own copy
		}
	}
	if r.vals[colContentType].present() {
		v := t.val(r, colContentType)
		switch {
		case equalFoldASCII(v, "product"):
			copy(v, "product")
		case equalFoldASCII(v, "product_group"):
			copy(v, "product_group")
		default:
			t.invalid(idx, colContentType, `must be "product" or "product_group"`)
			return
		}
	}
	if r.vals[colPrice].present() {
		if r.price, err = normalize.ParseDecimal("price", t.val(r, colPrice)); err != nil {
			t.fieldErr(idx, colPrice, err)
			return
		}
	}
	if r.vals[colQuantity].present() {
		if r.qty, err = normalize.ParseQuantity(t.val(r, colQuantity)); err != nil {
			t.fieldErr(idx, colQuantity, err)
			return
		}
	}
	if r.vals[colPrice].present() && r.vals[colQuantity].present() {
		if _, err := r.price.MulInt(r.qty); err != nil {
			t.invalid(idx, colQuantity, "price × quantity is too large to represent exactly")
			return
		}
	}
	// event_id, generated when absent
	if r.vals[colEventID].present() {
		r.id = r.vals[colEventID]
	} else {
		r.id = t.generateID(r)
	}
	// window
	switch {
	case r.time < t.now-t.window:
		t.reject(idx, ReasonOutsideWindow, "timestamp", fmt.Sprintf("timestamp: the event is older than the destination's %s attribution window", fmtWindow(t.window)))
	case r.time > t.now+int64(futureSlack/time.Second):
		t.reject(idx, ReasonFutureTimestamp, "timestamp", "timestamp: the event is more than 10 minutes in the future; check the clock and time zone of the source")
	}
}

func isLetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

func fmtWindow(sec int64) string {
	switch {
	case sec%86400 == 0:
		return strconv.FormatInt(sec/86400, 10) + "-day"
	case sec%3600 == 0:
		return strconv.FormatInt(sec/3600, 10) + "-hour"
	}
	return (time.Duration(sec) * time.Second).String()
}

func checkURL(v []byte) string {
	u, err := url.Parse(string(v))
	if err != nil || u.Host == "" || (!equalFoldASCII([]byte(u.Scheme), "http") && !equalFoldASCII([]byte(u.Scheme), "https")) {
		return "is not an absolute http(s) URL"
	}
	return ""
}

// checkName returns the event name to send for a row's event column, or an error
// message. Event names are not PII, so the message may quote them.
func (t *Transformer) checkName(v []byte) (string, string) {
	exact, spelling := lookupEvent(v)
	if exact != "" {
		return exact, ""
	}
	if spelling != "" {
		return "", fmt.Sprintf("event: %q is not a TikTok event name; did you mean %q?", v, spelling)
	}
	if !t.web {
		return "", fmt.Sprintf("event: %q is not a TikTok standard event name; offline events must use one (e.g. Purchase, CompletePayment)", truncate(v, 64))
	}
	if utf8.RuneCount(v) > 100 {
		return "", "event: a custom event name must be at most 100 characters"
	}
	if name, ok := t.names[string(v)]; ok {
		return name, ""
	}
	name := string(v)
	if len(t.names) < maxReported {
		if t.names == nil {
			t.names = make(map[string]string)
		}
		t.names[name] = name
	}
	return name, ""
}

func truncate(v []byte, n int) []byte {
	if len(v) > n {
		return v[:n]
	}
	return v
}

// generateID appends the generated event_id of SPEC §3 to the arena: the first 36 hex
// characters of SHA-256(hashed_email|hashed_phone|event|event_time).
func (t *Transformer) generateID(r *row) span {
	var buf [256]byte
	in := append(buf[:0], t.bytes(r.email)...)
	in = append(in, '|')
	in = append(in, t.bytes(r.phone)...)
	in = append(in, '|')
	in = append(in, r.name...)
	in = append(in, '|')
	in = strconv.AppendInt(in, r.time, 10)
	sum := sha256.Sum256(in)
	off := len(t.arena)
	t.arena = hex.AppendEncode(t.arena, sum[:18])
	return span{uint32(off), uint32(len(t.arena))}
}

// Finish merges the rows added since Reset that share an event_id into events and
// encodes them into the Result.
func (t *Transformer) Finish() {
	res := t.res
	valid := 0
	for i := range t.rows {
		if t.rows[i].status == rowOK {
			valid++
		}
	}
	// A single-row message, the common case, needs no map; nor do small arrays.
	useMap := valid > 16
	if useMap && t.ids == nil {
		t.ids = make(map[string]int32, valid)
	}
	conflicts := false
	for i := range t.rows {
		r := &t.rows[i]
		if r.status != rowOK {
			continue
		}
		id := t.bytes(r.id)
		k := int32(-1)
		if useMap {
			if e, ok := t.ids[string(id)]; ok {
				k = e
			}
		} else {
			for e := range res.Events {
				if res.Events[e].ID == string(id) {
					k = int32(e)
					break
				}
			}
		}
		if k >= 0 {
			if !t.merge(i, k) {
				conflicts = true
			}
			continue
		}
		k = int32(len(res.Events))
		res.Events = append(res.Events, Event{ID: string(id), Name: r.name, Time: r.time})
		t.evs = append(t.evs, evState{first: int32(i), last: int32(i)})
		if useMap {
			t.ids[res.Events[k].ID] = k
		}
		r.ev, r.next = k, -1
		t.addValue(i, k)
	}
	if cap(res.rowIdx) < valid {
		res.rowIdx = make([]int, 0, valid)
	}
	for e := range res.Events {
		b := len(res.rowIdx)
		for j := t.evs[e].first; j >= 0; j = t.rows[j].next {
			res.rowIdx = append(res.rowIdx, int(j))
		}
		res.Events[e].Rows = res.rowIdx[b:len(res.rowIdx):len(res.rowIdx)]
		t.encode(&res.Events[e], e)
	}
	if conflicts {
		slices.SortFunc(res.Rejects, func(a, b Reject) int { return a.Row - b.Row })
	}
}

// addValue adds row i's price × quantity to event k's value.
func (t *Transformer) addValue(i int, k int32) bool {
	r := &t.rows[i]
	if !r.vals[colPrice].present() || !r.vals[colQuantity].present() {
		return true
	}
	line, err := r.price.MulInt(r.qty)
	if err != nil {
		return false
	}
	s := &t.evs[k]
	if !s.hasValue {
		s.value, s.hasValue = line, true
		return true
	}
	sum, err := s.value.Add(line)
	if err != nil {
		return false
	}
	s.value = sum
	return true
}

// merge adds row i to event k as a line item. A row identical to one already in the
// event is a duplicate. A row that contradicts the event (another event name,
// timestamp or currency under the same event_id) is rejected naming that field: the
// first row wins, and the later one is shown to the user rather than silently dropped
// or silently changing what the first row said. It returns false on a rejection.
func (t *Transformer) merge(i int, k int32) bool {
	r := &t.rows[i]
	ev := &t.res.Events[k]
	st := &t.evs[k]
	for j := st.first; j >= 0; j = t.rows[j].next {
		if t.sameRow(&t.rows[j], r) {
			r.status = rowDuplicate
			t.res.Duplicates = append(t.res.Duplicates, i)
			return true
		}
	}
	first := &t.rows[st.first]
	switch {
	case r.name != ev.Name:
		t.reject(i, ReasonInvalidRow, "event", fmt.Sprintf("event: %q differs from %q of an earlier row with the same event_id %q; line items of one event must share event and timestamp", truncate([]byte(r.name), 64), ev.Name, ev.ID))
		return false
	case r.time != ev.Time:
		t.reject(i, ReasonInvalidRow, "timestamp", fmt.Sprintf("timestamp: differs from an earlier row with the same event_id %q; line items of one event must share event and timestamp", ev.ID))
		return false
	case r.vals[colCurrency].present() && first.vals[colCurrency].present() &&
		string(t.val(r, colCurrency)) != string(t.val(first, colCurrency)):
		t.reject(i, ReasonInvalidRow, "currency", fmt.Sprintf("currency: differs from an earlier row with the same event_id %q; one event has one currency", ev.ID))
		return false
	}
	saved := *st
	if !t.addValue(i, k) {
		*st = saved
		t.invalid(i, colQuantity, "the event's total value is too large to represent exactly")
		return false
	}
	r.ev, r.next = k, -1
	t.rows[st.last].next = int32(i)
	st.last = int32(i)
	return true
}

// sameRow reports whether two rows carry the same value in every column.
func (t *Transformer) sameRow(a, b *row) bool {
	for c := range numCols {
		if string(t.bytes(a.vals[c])) != string(t.bytes(b.vals[c])) {
			return false
		}
	}
	return true
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
		t.res.Events = slices.Grow(t.res.Events, rows)
		t.res.rowIdx = slices.Grow(t.res.rowIdx, rows)
		// an event is about as long as its row, plus the hashes
		t.res.buf = slices.Grow(t.res.buf, size+rows*128)
	}
}
