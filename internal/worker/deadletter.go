package worker

import (
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
)

// deadLetter builds the letter of row `row` of m: every dead letter of a row is built
// here, its body by the transformer from the row's bytes recorded by the transform
// (the row as received, PII hashed where valid; the message is not parsed again). tf
// is the calling goroutine's own transformer (a Transformer is not safe for
// concurrent use).
func (p *pipeline) deadLetter(tf *events.Transformer, m *inMsg, row int, reason events.Reason, errText, field string, now time.Time) dlq.Letter {
	body, err := tf.DeadLetter(&m.res, m.body, row)
	if err != nil {
		body = []byte(`{}`)
	}
	return p.letter(m, body, reason, errText, field, row, now)
}

// letter is a dead letter of m with the given body (the row, or the whole message
// when it is malformed).
func (p *pipeline) letter(m *inMsg, body []byte, reason events.Reason, errText, field string, row int, now time.Time) dlq.Letter {
	return dlq.Letter{
		Destination:   p.name,
		Body:          body,
		Reason:        string(reason),
		Error:         errText,
		Field:         field,
		SourceSubject: m.subject,
		SourceSeq:     m.seq,
		Row:           row,
		Attempts:      m.delivered,
		FailedAt:      now,
	}
}
