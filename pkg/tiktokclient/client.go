package tiktokclient

import (
	"context"
	"encoding/json"
	"strconv"
)

// TrackPath is the Events API 2.0 endpoint; TikTok requires the trailing slash.
const TrackPath = "/open_api/v1.3/event/track/"

// Request is one request's worth of events for one destination (≤ 1,000 events).
// Events are already-encoded event objects (package events builds them); the client
// only wraps them in TikTok's envelope, and re-cuts them when it bisects.
type Request struct {
	EventSource   string            // "web" or "offline"
	EventSourceID string            // Pixel code or offline event set id
	TestEventCode string            // top-level test_event_code, only when set
	Events        []json.RawMessage // each one event object
}

// AppendBody appends the exact JSON body of SPEC §4 for r to dst.
func (r *Request) AppendBody(dst []byte) []byte {
	dst = append(dst, `{"event_source":`...)
	dst = strconv.AppendQuote(dst, r.EventSource)
	dst = append(dst, `,"event_source_id":`...)
	dst = strconv.AppendQuote(dst, r.EventSourceID)
	if r.TestEventCode != "" {
		dst = append(dst, `,"test_event_code":`...)
		dst = strconv.AppendQuote(dst, r.TestEventCode)
	}
	dst = append(dst, `,"data":[`...)
	for i, ev := range r.Events {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, ev...)
	}
	return append(dst, "]}"...)
}

// Status is what happened to one event.
type Status uint8

const (
	Unsettled Status = iota // no answer settled it (the Send error says why)
	Accepted                // TikTok took it (code 0 or 20001)
	Rejected                // TikTok refused it as a bad event; Code and Message say why
)

// Outcome is one event's fate.
type Outcome struct {
	Status    Status
	Code      int    // TikTok's code (Rejected)
	Message   string // TikTok's message (Rejected)
	RequestID string // request_id of the answer that settled it
}

// Result has one Outcome per Request.Events element, in the same order.
type Result struct {
	Outcomes []Outcome
	Requests int // HTTP requests made, retries and bisection included
	Retries  int // retried attempts
}

// Send delivers req and reports every event's outcome. A non-nil error means some
// events are Unsettled: a *CredentialError (pause the destination, do not dead-letter),
// an error wrapping ErrGaveUp (retried for max elapsed; hand messages back and pause),
// or the context's error.
func (c *Client) Send(ctx context.Context, req Request) (Result, error) { panic("TODO(tiktokclient)") }
