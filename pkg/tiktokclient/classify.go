package tiktokclient

import "regexp"

// Class is what an answer means for the events of the request (SPEC §4).
type Class uint8

const (
	// ClassCredential: bad credentials or configuration, and every code not listed
	// elsewhere. No event is at fault: refresh once or pause; never reject.
	ClassCredential Class = iota
	// ClassSuccess: code 0, or 20001 (partial success).
	ClassSuccess
	// ClassRetry: transient; retry the same request with backoff.
	ClassRetry
	// ClassBadEvents: at least one event is bad; bisect to find it.
	ClassBadEvents
)

func (c Class) String() string {
	switch c {
	case ClassSuccess:
		return "success"
	case ClassRetry:
		return "retry"
	case ClassBadEvents:
		return "bad_events"
	default:
		return "credential"
	}
}

// Classify maps a code read from an HTTP 200 answer to its class. The credential
// codes SPEC §4 names (40001, 40006, 40063, 40101, 40102, 40104–40107, 40113, 40118,
// 40119, 40125, 40130, 40300, 40301) fall in the default branch with every unknown code.
func Classify(code int) Class {
	switch {
	case code == 0 || code == 20001:
		return ClassSuccess
	case code == 40000 || code == 40002 || code == 40061 || code == 40062:
		return ClassBadEvents
	case code == 40100, code == 40016, code == 40133, code == 40132, code == 40202,
		code == 50000, code == 50002, code == 60001, code == 61000,
		code >= 51000 && code <= 52999:
		return ClassRetry
	}
	return ClassCredential
}

// IsRateLimit reports TikTok's rate-limit codes: they shrink the shared limiter and
// wait at least the rate-limit floor (1 s) before the retry.
func IsRateLimit(code int) bool { return code == 40100 || code == 40016 || code == 40133 }

// ClassifyHTTP maps a non-200 HTTP status: 5xx and 429 are transient; any other
// status means the API base or path is wrong, a configuration problem.
func ClassifyHTTP(status int) Class {
	if status == 429 || status >= 500 {
		return ClassRetry
	}
	if status == 200 {
		return ClassSuccess
	}
	return ClassCredential
}

// Envelope fields TikTok's messages name when the request itself, not one of its
// events, is wrong. TikTok answers 40002 for these too (seen: "Invalid value for
// event_source_id: not a valid string." for an offline request sent with a Pixel
// code), so a bad-events code alone does not say an event is at fault.
const (
	FieldEventSource   = "event_source"
	FieldEventSourceID = "event_source_id"
	FieldTestEventCode = "test_event_code"
	FieldAdvertiser    = "advertiser_id"
	FieldAccessToken   = "access_token"
)

// envelopeWords maps the words of a message to the envelope field they name. Word
// boundaries keep "event_source" from matching inside "event_source_id" or an
// event's own fields; an answer that names an event (data[i]) is the event's.
var envelopeWords = []struct {
	re    *regexp.Regexp
	field string
}{
	{regexp.MustCompile(`(?i)\bevent_source_id\b`), FieldEventSourceID},
	{regexp.MustCompile(`(?i)\bevent_source\b`), FieldEventSource},
	{regexp.MustCompile(`(?i)\btest_event_code\b`), FieldTestEventCode},
	{regexp.MustCompile(`(?i)\badvertiser(?:_id)?\b`), FieldAdvertiser},
	{regexp.MustCompile(`(?i)\b(?:access[_ -]?)?token\b`), FieldAccessToken},
}

var namesAnEvent = regexp.MustCompile(`(?i)\bdata\s*(?:\[\s*\d+\s*\]|\.)`)

// EnvelopeField reports which part of the request's envelope a bad-events answer's
// message names ("" when it names an event, or nothing TikTok's envelope holds).
// Such an answer is a configuration error: no event is at fault.
func EnvelopeField(message string) string {
	if namesAnEvent.MatchString(message) {
		return ""
	}
	for _, w := range envelopeWords {
		if w.re.MatchString(message) {
			return w.field
		}
	}
	return ""
}
