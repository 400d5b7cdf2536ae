package tiktokclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Error texts say what actually happened — TikTok answered an HTTP status, a code,
// or could not be reached — and what to do; never a token or secret.

// ErrGaveUp is wrapped by Send's error when retryable failures lasted max elapsed.
var ErrGaveUp = errors.New("tiktok: gave up after retrying for max elapsed")

// CredentialError is a credential or configuration answer: no event is at fault.
// Its text carries TikTok's code (or the HTTP status), message and request_id,
// never a token or secret.
type CredentialError struct {
	Code       int // TikTok's code; the HTTP status when HTTPStatus is set; -1 for a local configuration problem
	Message    string
	RequestID  string
	HTTPStatus int // set when TikTok answered an HTTP status other than 200 (e.g. 404: a wrong tiktok.api_base)
	// Field is the envelope field a bad-events answer (40000, 40002, …) named
	// (FieldEventSourceID, FieldEventSource, FieldTestEventCode, FieldAdvertiser,
	// FieldAccessToken): the request was refused for its envelope, not an event.
	Field string
	// RefusedAlike is set when no single event was at fault because every event
	// sent alone was refused the same way: how many were sent alone. Message then
	// holds only the part of TikTok's message that names the field, never a value.
	RefusedAlike int
}

// documentedCredential are the credential and configuration codes SPEC §4 lists;
// any other code in that class is one TikTok does not document for this API.
var documentedCredential = map[int]bool{40001: true, 40006: true, 40063: true, 40101: true, 40102: true,
	40104: true, 40105: true, 40106: true, 40107: true, 40113: true, 40118: true, 40119: true, 40125: true,
	40130: true, 40300: true, 40301: true}

func (e *CredentialError) Error() string {
	var b strings.Builder
	switch {
	case e.Code < 0:
		b.WriteString("tiktok client configuration: ")
		b.WriteString(e.Message)
		return b.String()
	case e.HTTPStatus != 0:
		// Message starts with the status ("HTTP 404 Not Found: …; check tiktok.api_base").
		b.WriteString("TikTok answered ")
		b.WriteString(e.Message)
		writeRequestID(&b, e.RequestID)
		b.WriteString("; no event is at fault")
		return b.String()
	case e.RefusedAlike > 0:
		fmt.Fprintf(&b, "TikTok refused each of the %d events it was sent alone the same way", e.RefusedAlike)
		writeCode(&b, e.Code, e.Message, e.RequestID)
		b.WriteString(", so no single event is at fault and none is rejected; check the destination's event_source and event_source_id (" + sourceHint + ") and what its rows carry for that field")
	case e.Field != "":
		b.WriteString("TikTok refused the request's " + e.Field)
		writeCode(&b, e.Code, e.Message, e.RequestID)
		b.WriteString("; no event is at fault: " + settingHint(e.Field))
	case tokenCodes[e.Code]:
		b.WriteString("TikTok refused the access token")
		writeCode(&b, e.Code, e.Message, e.RequestID)
		b.WriteString("; check the access token (tiktok.access_token_env), or the refresh flow's app_id, app secret and refresh token")
	case documentedCredential[e.Code]:
		b.WriteString("TikTok refused the credentials or configuration")
		writeCode(&b, e.Code, e.Message, e.RequestID)
		b.WriteString("; check the destination's advertiser_id and event_source_id and what the access token may use")
	default:
		fmt.Fprintf(&b, "TikTok answered code %d, which the Events API does not document", e.Code)
		writeCode(&b, 0, e.Message, e.RequestID)
		b.WriteString("; it is treated as a credential or configuration problem, so no event is rejected: check the access token and the destination's advertiser_id and event_source_id")
	}
	return b.String()
}

// sourceHint says what each event source takes as its id.
const sourceHint = "web takes a Pixel code, offline an offline event set id, crm a CRM event set id"

// settingHint names the setting to check for an envelope field TikTok refused.
func settingHint(field string) string {
	switch field {
	case FieldEventSource, FieldEventSourceID:
		return "check the destination's event_source and event_source_id (" + sourceHint + ")"
	case FieldTestEventCode:
		return "check the destination's test_event_code (copy it from Events Manager's Test Events tab, or remove it)"
	case FieldAdvertiser:
		return "check the destination's advertiser_id and what the access token may use"
	}
	return "check the access token (tiktok.access_token_env), or the refresh flow's app_id, app secret and refresh token"
}

// writeCode writes " (code C: message, request_id R)", leaving out what is empty.
func writeCode(b *strings.Builder, code int, msg, rid string) {
	var parts []string
	if code != 0 {
		parts = append(parts, fmt.Sprintf("code %d", code))
	}
	if msg != "" {
		if len(parts) > 0 {
			parts[0] += ": " + msg
		} else {
			parts = append(parts, msg)
		}
	}
	if rid != "" {
		parts = append(parts, "request_id "+rid)
	}
	if len(parts) > 0 {
		b.WriteString(" (" + strings.Join(parts, ", ") + ")")
	}
}

func writeRequestID(b *strings.Builder, rid string) {
	if rid != "" {
		b.WriteString(" (request_id " + rid + ")")
	}
}

// failKind is why an attempt was retried.
type failKind uint8

const (
	failHTTP       failKind = iota // HTTP 5xx or 429
	failCode                       // a retryable TikTok code in an HTTP 200 envelope
	failNetwork                    // no answer: connection refused, reset, DNS…
	failTimeout                    // no answer within the request timeout
	failUnreadable                 // an answer that is cut off or not TikTok's envelope
	failToken                      // the token source could not produce a token
	failLocal                      // the request could not be made (the limiter refused to wait)
)

// failure is the cause of one retried attempt.
type failure struct {
	kind    failKind
	status  int           // failHTTP
	code    int           // failCode
	msg     string        // TikTok's message, if any
	rid     string        // TikTok's request_id, if any
	timeout time.Duration // failTimeout: the request timeout
	err     error         // the underlying error (network, token, decode)
}

// what says what happened, as the subject of a sentence.
func (f *failure) what() string {
	switch f.kind {
	case failHTTP:
		return fmt.Sprintf("TikTok answered HTTP %d %s", f.status, http.StatusText(f.status))
	case failCode:
		if IsRateLimit(f.code) {
			return fmt.Sprintf("TikTok answered code %d (a rate limit)", f.code)
		}
		return fmt.Sprintf("TikTok answered code %d", f.code)
	case failNetwork:
		return "TikTok could not be reached"
	case failTimeout:
		return fmt.Sprintf("TikTok did not answer within the request timeout (%s, tiktok.request_timeout)", f.timeout)
	case failUnreadable:
		return "TikTok's answer could not be read"
	case failToken:
		return "no access token could be fetched"
	}
	return "the request could not be made"
}

// detail is TikTok's message and request_id, or the underlying error.
func (f *failure) detail() string {
	if f.err != nil {
		return f.err.Error()
	}
	var b strings.Builder
	b.WriteString(f.msg)
	if f.rid != "" {
		if f.msg != "" {
			b.WriteByte(' ')
		}
		b.WriteString("(request_id " + f.rid + ")")
	}
	return b.String()
}

func (f *failure) Error() string {
	if d := f.detail(); d != "" {
		return f.what() + ": " + d
	}
	return f.what()
}

func (f *failure) Unwrap() error { return f.err }

// same reports whether two failures are the same thing happening again.
func (f *failure) same(g *failure) bool {
	return f.kind == g.kind && f.status == g.status && f.code == g.code
}

// asFailure turns an attempt's cause into a failure.
func asFailure(err error, timeout time.Duration) *failure {
	var f *failure
	if errors.As(err, &f) {
		return f
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &failure{kind: failTimeout, timeout: timeout, err: err}
	}
	return &failure{kind: failNetwork, err: err}
}

// gaveUpError is the error of a request retried for max elapsed. It wraps
// ErrGaveUp only: the last failure is in its text, and it is never a
// CredentialError.
type gaveUpError struct {
	first, last *failure
	mixed       bool // the attempts did not all fail alike
	attempts    int
	elapsed     time.Duration
	limit       time.Duration
	limitName   string // the setting that bounds the retries
}

func (e *gaveUpError) Error() string {
	tries := fmt.Sprintf("(%d over %s, %s %s)", e.attempts, roundDuration(e.elapsed), e.limitName, e.limit)
	if e.mixed {
		return fmt.Sprintf("TikTok failed every attempt %s; giving up for now; the last: %s", tries, e.last.Error())
	}
	s := fmt.Sprintf("%s on every attempt %s; giving up for now", e.last.what(), tries)
	if d := e.last.detail(); d != "" {
		s += ": " + d
	}
	return s
}

func (e *gaveUpError) Unwrap() error { return ErrGaveUp }

func roundDuration(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}
