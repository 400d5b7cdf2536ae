package dedup

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// wireRecord is a record as the sent log holds it: one JSON message per accepted
// request on <prefix>.sent.<destination>, readable with `nats stream view`:
//
//	{"accepted_at":"2026-12-01T19:40:51.123Z","request_id":"202612011940…",
//	 "events":[{"event":"Purchase","event_id":"o-1001"},{"event":"Purchase","event_id":"o-1002"}]}
//
// The destination is the subject's last token. An event without "event" is a receipt
// carried over from the first version's bucket: it covers every event name.
type wireRecord struct {
	AcceptedAt time.Time   `json:"accepted_at"`
	RequestID  string      `json:"request_id"`
	Events     []wireEvent `json:"events"`
}

type wireEvent struct {
	Event string `json:"event,omitempty"`
	ID    string `json:"event_id"`
}

// encodeRecord returns the message body of rec.
func encodeRecord(rec Record) ([]byte, error) {
	w := wireRecord{AcceptedAt: rec.AcceptedAt.UTC(), RequestID: rec.RequestID, Events: make([]wireEvent, len(rec.Events))}
	for i, k := range rec.Events {
		w.Events[i] = wireEvent(k)
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("sent log record: %w", err)
	}
	return b, nil
}

// decodeRecord reads a message body of the sent log.
func decodeRecord(dest string, data []byte) (Record, error) {
	var w wireRecord
	if err := json.Unmarshal(data, &w); err != nil {
		return Record{}, fmt.Errorf("not a sent log record: %w", err)
	}
	rec := Record{Destination: dest, AcceptedAt: w.AcceptedAt, RequestID: w.RequestID, Events: make([]Key, len(w.Events))}
	for i, e := range w.Events {
		rec.Events[i] = Key(e)
	}
	return rec, nil
}

// msgID is the Nats-Msg-Id of a record body: its content hash, so that the same record
// published twice within the stream's duplicate window (an append retried after a
// lost ack, two replicas copying one bucket at once) is stored once, and two
// different records never shadow each other.
func msgID(prefix string, body []byte) string {
	sum := sha256.Sum256(body)
	return prefix + hex.EncodeToString(sum[:16])
}
