package worker

import (
	"sync"
	"time"
)

// State is where one destination stands. Its transitions are the table in next;
// nothing else changes it.
type State uint8

const (
	// Starting: waiting for the destination's consumer or its connection check.
	Starting State = iota
	// Running: pulling and delivering.
	Running
	// Retrying: still delivering, but one request has been retried for longer than
	// Options.RetryingAfter (TikTok or the network is failing). Still ready.
	Retrying
	// Paused: a credential refusal or max_elapsed without an answer; nothing is
	// pulled and a probe retries with backoff. Not ready.
	Paused
	// Draining: shutting down; nothing more is pulled.
	Draining
	// Stopped: the drain is over.
	Stopped
)

// States lists every State, in order: the values of the destination_state gauge.
func States() []State {
	out := make([]State, 0, len(stateNames))
	for i := range stateNames {
		out = append(out, State(i))
	}
	return out
}

var stateNames = [...]string{Starting: "starting", Running: "running", Retrying: "retrying",
	Paused: "paused", Draining: "draining", Stopped: "stopped"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// trigger is what happened to a destination.
type trigger uint8

const (
	started     trigger = iota // consumer found and connection check passed
	checkFailed                // the connection check at start failed
	retryLong                  // a request has been retried for RetryingAfter
	answered                   // TikTok answers requests again
	gaveUp                     // a credential refusal, or max_elapsed without an answer
	resumed                    // a probe (or the check) got an answer that settles it
	drain                      // Run's context ended
	drained                    // the drain is over
)

// next is the transition table. ok is false when the trigger changes nothing in
// state s (it is then ignored): a paused destination does not become retrying (its
// probe retries), a draining one does not pause, and so on.
func (s State) next(t trigger) (State, bool) {
	switch {
	case t == drained:
		return Stopped, s != Stopped
	case s == Stopped || s == Draining:
		return s, false
	case t == drain:
		return Draining, true
	}
	switch s {
	case Starting:
		switch t {
		case started:
			return Running, true
		case checkFailed, gaveUp:
			return Paused, true
		}
	case Running:
		switch t {
		case retryLong:
			return Retrying, true
		case gaveUp:
			return Paused, true
		}
	case Retrying:
		switch t {
		case answered, resumed:
			return Running, true
		case gaveUp:
			return Paused, true
		}
	case Paused:
		switch t {
		case resumed, started:
			return Running, true
		}
	}
	return s, false
}

// status is a destination's State as the rest of the process reads it (Ready,
// Stats), with why it is there and since when. The core goroutine moves it.
type status struct {
	mu     sync.Mutex
	state  State
	since  time.Time // when it entered state (for Retrying: when the retries began)
	reason string    // why it is Starting (waiting) or Paused, or what Retrying retries
}

// move applies t; it reports whether the state changed.
func (st *status) move(t trigger, since time.Time, reason string) (from, to State, changed bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	from = st.state
	to, changed = from.next(t)
	if changed {
		st.state, st.since, st.reason = to, since, reason
	}
	return from, to, changed
}

// setReason updates the words of the current state (a paused destination whose
// probe got another answer; a starting one that waits for something else).
func (st *status) setReason(r string) {
	st.mu.Lock()
	st.reason = r
	st.mu.Unlock()
}

func (st *status) get() (State, time.Time, string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.state, st.since, st.reason
}
