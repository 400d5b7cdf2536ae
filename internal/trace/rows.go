package trace

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
)

// findWaiting reads the first scan messages on dest's rows subject, in stream order,
// one "next message on this subject" get each, and returns where each id waits.
func findWaiting(ctx context.Context, js jetstream.JetStream, names broker.Names, dest string, ids []string, scan int, cov *Coverage) (map[string]*Waiting, error) {
	out := map[string]*Waiting{}
	cov.RowsComplete = true // until the bound cuts the read
	subject := names.RowsSubject(dest)
	stream, err := js.Stream(ctx, names.RowsStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking up stream %s: %w", names.RowsStream, err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return nil, fmt.Errorf("stream %s info: %w", names.RowsStream, err)
	}
	cov.RowsWaiting = info.State.Subjects[subject]
	if cov.RowsWaiting == 0 {
		return out, nil
	}
	// The durable consumer's positions tell delivered from not yet delivered.
	var delivered, ackFloor uint64
	redelivering := 0
	if c, err := stream.Consumer(ctx, names.ConsumerName(dest)); err == nil {
		ci := c.CachedInfo()
		delivered, ackFloor, redelivering = ci.Delivered.Stream, ci.AckFloor.Stream, ci.NumRedelivered
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("consumer %s: %w", names.ConsumerName(dest), err)
	}

	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	handle := func(m *jetstream.RawStreamMsg) {
		cov.RowsScanned++
		for id, rows := range eventRows(m.Data) {
			if !want[id] {
				continue
			}
			w := out[id]
			if w == nil {
				w = &Waiting{Redelivering: redelivering}
				out[id] = w
			}
			w.Copies = append(w.Copies, Copy{
				Seq: m.Sequence, Published: m.Time.UTC(), Rows: rows,
				Delivered: m.Sequence > ackFloor && m.Sequence <= delivered,
			})
		}
	}
	// One "next message on this subject" get per message: the server skips what other
	// destinations published in between. (Measured here, gets in parallel were no
	// faster: the server's work per get, not the round trip, is the cost.)
	seq := max(info.State.FirstSeq, ackFloor+1)
	for cov.RowsScanned < scan {
		m, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s at sequence %d: %w", names.RowsStream, seq, err)
		}
		handle(m)
		seq = m.Sequence + 1
	}
	cov.RowsComplete = uint64(cov.RowsScanned) >= cov.RowsWaiting
	return out, nil
}

// eventRows counts the rows of each event_id in a rows message: one JSON object, or a
// JSON array of them. A message that is neither holds no id.
func eventRows(data []byte) map[string]int {
	out := map[string]int{}
	b := bytes.TrimSpace(data)
	if len(b) == 0 {
		return out
	}
	if b[0] == '{' {
		if id := dlq.EventIDOf(b); id != "" {
			out[id]++
		}
		return out
	}
	var rows []json.RawMessage
	if b[0] != '[' || json.Unmarshal(b, &rows) != nil {
		return out
	}
	for _, r := range rows {
		if id := dlq.EventIDOf(r); id != "" {
			out[id]++
		}
	}
	return out
}
