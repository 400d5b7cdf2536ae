package tiktokclient

import (
	"context"
	"regexp"
	"strings"
)

// aloneSamples is how many more events are sent alone, spread over the request,
// once the first two events bisection sent alone were refused alike and nothing of
// the request was accepted: if they are refused alike too, no event is at fault.
const aloneSamples = 8

// chunk is the state of one request of ≤ MaxEvents while bisection settles it: what
// tells a refusal of every event (the destination's configuration) from bad events.
type chunk struct {
	lo, hi   int
	accepted bool           // some event of the request was accepted
	alone    []int          // events refused when sent alone, in order
	first    answer         // the first of those refusals
	alike    bool           // every refusal alone matches first
	sampled  map[int]answer // events already sent alone by refusedAlone
}

// refusedAlone notes that event i, sent alone, was refused with ans. When nothing
// of the request was accepted and the first two events sent alone were refused
// alike, it sends up to aloneSamples more events alone, spread over the request (all
// of them when it holds no more): if every one is refused alike as well, no event is
// at fault, and it returns a *CredentialError (RefusedAlike) after clearing the
// refusals back to Unsettled. An accepted or differently refused sample means bad
// events after all; bisection goes on (and reuses the samples' answers).
func (s *sender) refusedAlone(ctx context.Context, i int, ans answer) error {
	ch := &s.chunk
	if ch.sampled != nil {
		return nil // decided already
	}
	if len(ch.alone) == 0 {
		ch.first = ans
	} else if !sameRefusal(ans, ch.first) {
		ch.alike = false
	}
	ch.alone = append(ch.alone, i)
	if ch.accepted || !ch.alike || len(ch.alone) < 2 {
		return nil
	}
	ch.sampled = make(map[int]answer, aloneSamples)
	for _, j := range ch.samples() {
		a, err := s.post(ctx, j, j+1)
		if err != nil {
			return err
		}
		ch.sampled[j] = a
		if Classify(a.Code) == ClassSuccess || EnvelopeField(a.Message) != "" || !sameRefusal(a, ch.first) {
			return nil // settle decides when bisection reaches j
		}
		ch.alone = append(ch.alone, j)
	}
	for _, j := range ch.alone {
		s.res.Outcomes[j] = Outcome{}
	}
	return &CredentialError{Code: ch.first.Code, Message: refusalField(ch.first.Message),
		RequestID: ch.first.RequestID, RefusedAlike: len(ch.alone)}
}

// samples are up to aloneSamples events of the request not yet sent alone, spread
// evenly over it.
func (ch *chunk) samples() []int {
	tried := make(map[int]bool, len(ch.alone))
	for _, j := range ch.alone {
		tried[j] = true
	}
	rest := make([]int, 0, ch.hi-ch.lo)
	for j := ch.lo; j < ch.hi; j++ {
		if !tried[j] {
			rest = append(rest, j)
		}
	}
	if len(rest) <= aloneSamples {
		return rest
	}
	out := make([]int, aloneSamples)
	for k := range out {
		out[k] = rest[(2*k+1)*len(rest)/(2*aloneSamples)]
	}
	return out
}

// sameRefusal reports whether two answers to single events refuse them for the same
// reason: the same code and the same field named (what follows TikTok's colon may
// quote the event's own values, such as its id).
func sameRefusal(a, b answer) bool {
	return a.Code == b.Code && refusalField(a.Message) == refusalField(b.Message)
}

var quoted = regexp.MustCompile(`"[^"]*"|'[^']*'`)

// refusalField is the part of TikTok's message that names what was refused, without
// any value: "Invalid value for data[0].event_time: …" → "Invalid value for
// data[0].event_time"; quoted text is dropped.
func refusalField(msg string) string {
	if i := strings.IndexByte(msg, ':'); i >= 0 {
		msg = msg[:i]
	}
	return strings.TrimSpace(quoted.ReplaceAllString(msg, `"…"`))
}

// SameRefusal reports whether o, an event Rejected when sent alone (a probe of a
// paused destination, say), was refused the way every event was when e
// (RefusedAlike) was returned: the destination is still misconfigured, and o is no
// more at fault than the events before it. False for any other error or outcome.
func (e *CredentialError) SameRefusal(o Outcome) bool {
	return e != nil && e.RefusedAlike > 0 && o.Status == Rejected && o.Code == e.Code &&
		refusalField(o.Message) == e.Message
}
