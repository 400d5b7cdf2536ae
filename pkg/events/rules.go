package events

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/normalize"
)

// The rules of SPEC §3, applied to one decoded row. Error words never carry a row's
// value unless quoted (quote.go) allows it.

func (t *Transformer) val(r *row, c col) []byte { return t.arena[r.vals[c].off:r.vals[c].end] }

func (t *Transformer) bytes(s span) []byte { return t.arena[s.off:s.end] }

// failure is why a row is not sent: the reason, the column at fault and plain words
// (without the column name, which reject puts in front).
type failure struct {
	reason Reason
	c      col
	msg    string
}

// passed is the failure of a row that passed.
var passed = failure{}

func invalid(c col, msg string) failure { return failure{ReasonInvalidRow, c, msg} }

// fieldFailure turns a normalize error into a failure of column c. FieldError never
// carries the raw value; the column named is the one we read.
func fieldFailure(c col, err error) failure {
	var fe *normalize.FieldError
	if errors.As(err, &fe) {
		return invalid(c, fe.Msg)
	}
	return invalid(c, "is not valid")
}

// validate applies the rules to row idx and rejects it with the first failure. A
// rejected row still gets the event_id it would have had when that is known (given,
// or generated from columns that were valid), so that its event is dead-lettered
// whole (see Finish).
func (t *Transformer) validate(idx int) {
	f := t.check(idx)
	if f.reason == "" {
		return
	}
	r := &t.rows[idx]
	if !r.id.present() {
		if r.vals[colEventID].present() {
			if utf8.RuneCount(t.val(r, colEventID)) <= 64 {
				r.id = r.vals[colEventID]
			}
		} else if r.idReady {
			r.id = t.generateID(r)
		}
	}
	t.reject(idx, f.reason, f.c.name(), f.c.name()+": "+f.msg)
}

// check applies the rules of SPEC §3 to row idx, in column order, and returns the
// first failure.
func (t *Transformer) check(idx int) failure {
	r := &t.rows[idx]
	if r.badCol != colUnknown {
		return invalid(r.badCol, r.badMsg)
	}
	// timestamp
	if !r.vals[colTimestamp].present() {
		return invalid(colTimestamp, "is required (ISO 8601, Unix seconds or Unix milliseconds)")
	}
	ts, err := normalize.ParseTimestamp(t.val(r, colTimestamp))
	if err != nil {
		return fieldFailure(colTimestamp, err)
	}
	r.time = ts
	// event
	if r.vals[colEvent].present() {
		name, msg := t.checkName(t.val(r, colEvent))
		if msg != "" {
			return invalid(colEvent, msg)
		}
		r.name = name
	} else if t.fixed != "" {
		r.name = t.fixed
	} else {
		return invalid(colEvent, "is missing and the destination has no fixed_event_name")
	}
	// event_id
	if r.vals[colEventID].present() {
		if n := utf8.RuneCount(t.val(r, colEventID)); n > 64 {
			return invalid(colEventID, "is "+strconv.Itoa(n)+" characters long; TikTok allows at most 64")
		}
	}
	// identity and advanced matching: email, phone first (a generated event_id
	// needs them), then the rest in column order, country before state and zip_code
	// (which depend on it)
	for _, c := range [...]col{colEmail, colPhone} {
		if f := t.hashCol(r, c, nil); f.reason != "" {
			return f
		}
	}
	r.idReady = true
	var country []byte
	var cbuf [2]byte
	if r.vals[colCountry].present() {
		if v := t.val(r, colCountry); !normalize.IsSHA256Hex(v) {
			var err error
			if country, err = normalize.AppendCountry(cbuf[:0], v); err != nil {
				return fieldFailure(colCountry, err)
			}
		}
	}
	for c := colExternalID; c <= colZipCode; c++ {
		if f := t.hashCol(r, c, country); f.reason != "" {
			return f
		}
	}
	hasID := false
	for c := colEmail; c <= colZipCode; c++ {
		hasID = hasID || columnTable[c].Identity && r.hash(c).present()
	}
	if !hasID {
		return invalid(colEmail, t.identity)
	}
	// lead
	if t.take[colLeadID] == Required && !r.vals[colLeadID].present() {
		return invalid(colLeadID, "is required for crm events (the id of the lead the event is about)")
	}
	// web
	if r.vals[colIP].present() {
		if _, err := netip.ParseAddr(string(t.val(r, colIP))); err != nil {
			return invalid(colIP, "is not an IPv4 or IPv6 address")
		}
	}
	if t.take[colPageURL] == Required && !r.vals[colPageURL].present() {
		return invalid(colPageURL, "is required for web events (the absolute http(s) URL of the page)")
	}
	if r.vals[colPageURL].present() {
		if msg := checkURL(t.val(r, colPageURL)); msg != "" {
			return invalid(colPageURL, msg)
		}
	}
	// properties
	if r.vals[colPrice].present() {
		if r.price, err = normalize.ParseDecimal("price", t.val(r, colPrice)); err != nil {
			return fieldFailure(colPrice, err)
		}
	}
	if r.vals[colQuantity].present() {
		if r.qty, err = normalize.ParseQuantity(t.val(r, colQuantity)); err != nil {
			return fieldFailure(colQuantity, err)
		}
	}
	if r.vals[colPrice].present() && r.vals[colQuantity].present() {
		if _, err := r.price.MulInt(r.qty); err != nil {
			return invalid(colQuantity, "price × quantity is too large to represent exactly")
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
			return invalid(colContentType, quoted(colContentType, v)+`must be "product" or "product_group"`)
		}
	}
	if r.vals[colCurrency].present() {
		v := t.val(r, colCurrency)
		off := len(t.arena)
		if t.arena, err = normalize.AppendCurrency(t.arena, v); err != nil {
			f := fieldFailure(colCurrency, err)
			f.msg = quoted(colCurrency, v) + f.msg
			return f
		}
		r.vals[colCurrency] = span{uint32(off), uint32(len(t.arena))}
	}
	if r.vals[colLimitedDataUse].present() {
		v := t.val(r, colLimitedDataUse)
		switch {
		case equalFoldASCII(v, "true") || string(v) == "1":
			r.ldu = lduTrue
		case equalFoldASCII(v, "false") || string(v) == "0":
			r.ldu = lduFalse
		default:
			return invalid(colLimitedDataUse, quoted(colLimitedDataUse, v)+"must be true or false")
		}
	}
	if r.vals[colValue].present() {
		if r.value, err = normalize.ParseDecimal("value", t.val(r, colValue)); err != nil {
			return fieldFailure(colValue, err)
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
		return failure{ReasonOutsideWindow, colTimestamp, fmt.Sprintf("the event is older than the destination's %s attribution window", fmtWindow(t.window))}
	case r.time > t.now+int64(futureSlack/time.Second):
		return failure{ReasonFutureTimestamp, colTimestamp, "the event is more than 10 minutes in the future; check the clock and time zone of the source"}
	}
	return passed
}

// hashCol normalizes and hashes column c (colEmail … colZipCode) of r into the arena.
// country is the row's normalized country, for state and zip_code (nil when unknown).
func (t *Transformer) hashCol(r *row, c col, country []byte) failure {
	if !r.vals[c].present() {
		return passed
	}
	off := len(t.arena)
	var err error
	if c == colCountry && country != nil {
		t.arena = normalize.AppendSHA256Hex(t.arena, country) // normalized already
	} else {
		t.arena, err = t.appendHashed(t.arena, c, t.val(r, c), country)
	}
	if err != nil {
		t.arena = t.arena[:off]
		return fieldFailure(c, err)
	}
	r.hashed[c-colEmail] = span{uint32(off), uint32(len(t.arena))}
	return passed
}

// appendHashed appends the hashed form of v, a value of hashed column c (colEmail …
// colZipCode). country is the row's normalized country, for state and zip_code.
func (t *Transformer) appendHashed(dst []byte, c col, v, country []byte) ([]byte, error) {
	switch c {
	case colEmail:
		return normalize.AppendHashedEmail(dst, v)
	case colPhone:
		return t.phone.AppendHashed(dst, v)
	case colExternalID:
		return normalize.AppendHashedExternalID(dst, v)
	case colFirstName, colLastName:
		return normalize.AppendHashedName(c.name(), dst, v)
	case colCity:
		return normalize.AppendHashedCity(dst, v)
	case colState:
		return normalize.AppendHashedState(dst, v, country)
	case colCountry:
		return normalize.AppendHashedCountry(dst, v)
	case colZipCode:
		return normalize.AppendHashedZipCode(dst, v, country)
	}
	return dst, fmt.Errorf("%s: not a hashed column", c.name())
}

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

// checkName returns the event name to send for a row's event column, or the words of
// the error (without the column name). The value is never quoted: a shifted column
// can put anything in event.
func (t *Transformer) checkName(v []byte) (string, string) {
	exact, spelling := lookupEvent(v)
	if exact != "" {
		return exact, ""
	}
	if spelling != "" {
		return "", fmt.Sprintf("is not a TikTok event name as written; did you mean %q? (event names are case-sensitive)", spelling)
	}
	if !t.web {
		return "", t.cfg.EventSource + " events must use a TikTok standard event name (e.g. Purchase, CompletePayment); the value is not one"
	}
	if utf8.RuneCount(v) > 100 {
		return "", "a custom event name must be at most 100 characters"
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

// generateID appends the generated event_id of SPEC §3 to the arena: the first 36 hex
// characters of SHA-256(hashed_email|hashed_phone|event|event_time).
func (t *Transformer) generateID(r *row) span {
	var buf [256]byte
	in := append(buf[:0], t.bytes(r.hash(colEmail))...)
	in = append(in, '|')
	in = append(in, t.bytes(r.hash(colPhone))...)
	in = append(in, '|')
	in = append(in, r.name...)
	in = append(in, '|')
	in = strconv.AppendInt(in, r.time, 10)
	sum := sha256.Sum256(in)
	off := len(t.arena)
	t.arena = hex.AppendEncode(t.arena, sum[:18])
	return span{uint32(off), uint32(len(t.arena))}
}

// orList joins names as "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
