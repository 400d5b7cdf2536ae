package events

import (
	"errors"
	"time"
)

// Event sources.
const (
	SourceWeb     = "web"
	SourceOffline = "offline"
)

// MaxEventsPerRequest is TikTok's limit: a request with more events is refused whole.
const MaxEventsPerRequest = 1000

// DefaultWindow is TikTok's attribution window, and the longest one allowed.
const DefaultWindow = 28 * 24 * time.Hour

// Reason says why a row was not sent. The values are the dead-letter reasons of
// SPEC §5 and appear verbatim in Dlq-Reason headers and preview output.
type Reason string

const (
	ReasonMalformedMessage Reason = "malformed_message"
	ReasonInvalidRow       Reason = "invalid_row"
	ReasonOutsideWindow    Reason = "outside_window"
	ReasonFutureTimestamp  Reason = "future_timestamp"
	ReasonRejected         Reason = "rejected"          // set by the worker: TikTok refused the event
	ReasonRetriesExhausted Reason = "retries_exhausted" // set by the worker: max_deliver reached
)

// Config is one destination's transform settings.
type Config struct {
	EventSource    string        // SourceWeb or SourceOffline
	EventSourceID  string        // Pixel code (web) or offline event set id
	FixedEventName string        // used when a row has no event column
	Window         time.Duration // 0 means DefaultWindow; at most DefaultWindow
	PhoneRegion    string        // default region for numbers without a country code; "" means US
	LimitedDataUse bool          // web only: adds "limited_data_use": true
	TestEventCode  string        // not used by the transform; carried for request envelopes
	Now            func() time.Time
}

// MatchKeys is a bit set of the identity keys an event carries.
type MatchKeys uint8

const (
	KeyEmail MatchKeys = 1 << iota
	KeyPhone
	KeyExternalID
	KeyIP
	KeyUserAgent
	KeyTTP
	KeyTTCLID
)

// Event is one TikTok event built from one or more rows (line items that share an
// event_id).
type Event struct {
	ID   string    // event_id as sent
	Name string    // event as sent
	Time int64     // event_time, Unix seconds
	Rows []int     // indices (0-based, in input order) of the rows merged into it
	Keys MatchKeys // identity keys present
	JSON []byte    // the encoded event object, one element of the request's data array
}

// Reject is one row that produced no event.
type Reject struct {
	Row    int    // 0-based index of the row in the message
	Reason Reason // never ReasonRejected or ReasonRetriesExhausted
	Field  string // the column at fault, "" when none
	Err    string // plain words; never the raw value of a PII column
}

// Result is what one message (or one preview input) becomes. Every row index appears
// exactly once across Events[].Rows, Rejects[].Row and Duplicates.
type Result struct {
	Rows       int      // rows in the message
	Events     []Event  // in order of first appearance
	Rejects    []Reject // rows that produced no event
	Duplicates []int    // rows identical to a row already merged into an event

	// Ignored lists the columns this Transformer ignored for the first time during
	// this call (unknown columns, web-only columns on an offline destination, value),
	// so the caller can log each name once. Names only, never values.
	Ignored []IgnoredColumn

	buf    []byte // backing store of Events[].JSON
	rowIdx []int  // backing store of Events[].Rows
}

// IgnoredColumn is a column name the transform does not read, and why.
type IgnoredColumn struct {
	Name string
	Why  string
}

// ErrMalformed is wrapped by the error Transformer.Message returns when the message is
// not a JSON object or an array of objects; the whole message is then dead-lettered.
var ErrMalformed = errors.New("malformed message")
