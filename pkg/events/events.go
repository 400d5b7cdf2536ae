package events

import (
	"errors"
	"slices"
	"time"
)

// Event sources (SPEC §3): what each takes is the per-source columns table (Columns).
const (
	SourceWeb     = "web"     // a Pixel
	SourceOffline = "offline" // an offline event set
	SourceCRM     = "crm"     // a CRM event set; events carry a lead object
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
	EventSource    string        // SourceWeb, SourceOffline or SourceCRM
	EventSourceID  string        // Pixel code (web), offline event set id or CRM event set id
	FixedEventName string        // used when a row has no event column
	Window         time.Duration // 0 means DefaultWindow; at most DefaultWindow
	PhoneRegion    string        // default region for numbers without a country code; "" means US
	LimitedDataUse bool          // web only: adds "limited_data_use": true (a row's limited_data_use column overrides it)
	TestEventCode  string        // not used by the transform; carried for request envelopes
	Now            func() time.Time
}

// MatchKeys is a bit set of the keys an event carries that TikTok matches users by.
// Bit i is the key MatchKeyNames()[i].
type MatchKeys uint16

const (
	KeyEmail MatchKeys = 1 << iota
	KeyPhone
	KeyExternalID
	KeyIP
	KeyUserAgent
	KeyTTP
	KeyTTCLID
	KeyFirstName
	KeyLastName
	KeyCity
	KeyState
	KeyCountry
	KeyZipCode
	numMatchKeys = iota
)

// matchKeyNames names the match keys as the request's user object does, in bit order.
var matchKeyNames = [numMatchKeys]string{
	"email", "phone", "external_id", "ip", "user_agent", "ttp", "ttclid",
	"first_name", "last_name", "city", "state", "country", "zip_code",
}

// MatchKeyNames returns the names of the match keys, in bit order: element i names
// the key MatchKeys(1<<i). The preview summary and the worker's metrics derive their
// key lists from it. The slice is a copy.
func MatchKeyNames() []string { return slices.Clone(matchKeyNames[:]) }

// Has reports whether every key of keys is in k.
func (k MatchKeys) Has(keys MatchKeys) bool { return k&keys == keys }

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
	Err    string // plain words; quotes a value only of a Quotable column, and never one that looks like an e-mail address or phone number
}

// Result is what one message (or one preview input) becomes. Every row index appears
// exactly once across Events[].Rows, Rejects[].Row and Duplicates.
type Result struct {
	Rows       int      // rows in the message
	Events     []Event  // in order of first appearance
	Rejects    []Reject // rows that produced no event
	Duplicates []int    // rows identical to a row already merged into an event

	// Ignored lists the columns this Transformer ignored for the first time during
	// this call (unknown columns, columns the destination's source does not take), so
	// the caller can log each name once. Names only, never values.
	Ignored []IgnoredColumn

	buf    []byte // backing store of Events[].JSON
	rowIdx []int  // backing store of Events[].Rows
	spans  []span // row i's bytes in msg: for dead letters
	msg    []byte // the message Message read, nil for other inputs
}

// IgnoredColumn is a column name the transform does not read, and why.
type IgnoredColumn struct {
	Name string
	Why  string
}

// ErrMalformed is wrapped by the error Transformer.Message returns when the message is
// not a JSON object or an array of objects; the whole message is then dead-lettered.
var ErrMalformed = errors.New("malformed message")
