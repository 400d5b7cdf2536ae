package dedup

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
	"unsafe"
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

// scanKeys reads the events of a record body as encodeRecord writes it, without
// encoding/json's reflection and without copying: the strings of the keys it appends
// to keys point into data and are valid only while data is (the caller must copy
// any it keeps). It reports false for anything it does not expect — an escaped
// string, another layout — and the caller then decodes with decodeRecord. At start-up
// it halves the cost of reading the log.
func scanKeys(data []byte, keys []Key) ([]Key, bool) {
	const events = `"events":[`
	i := bytes.Index(data, []byte(events))
	if i < 0 {
		return keys, false
	}
	i += len(events)
	if i < len(data) && data[i] == ']' {
		return keys, i+2 == len(data) && data[i+1] == '}'
	}
	for {
		var k Key
		var ok bool
		switch {
		case bytes.HasPrefix(data[i:], []byte(`{"event":"`)):
			i += len(`{"event":"`)
			if k.Event, i, ok = scanString(data, i); !ok || !bytes.HasPrefix(data[i:], []byte(`,"event_id":"`)) {
				return keys, false
			}
			i += len(`,"event_id":"`)
		case bytes.HasPrefix(data[i:], []byte(`{"event_id":"`)):
			i += len(`{"event_id":"`)
		default:
			return keys, false
		}
		if k.ID, i, ok = scanString(data, i); !ok || i >= len(data) || data[i] != '}' {
			return keys, false
		}
		keys = append(keys, k)
		i++
		if i >= len(data) {
			return keys, false
		}
		switch data[i] {
		case ',':
			i++
		case ']':
			return keys, i+2 == len(data) && data[i+1] == '}'
		default:
			return keys, false
		}
	}
}

// scanString reads a JSON string's contents from data[i:] up to its closing quote,
// which it steps over; an escape makes it give up.
func scanString(data []byte, i int) (s string, next int, ok bool) {
	j := bytes.IndexAny(data[i:], `"\`)
	if j < 0 || data[i+j] == '\\' {
		return "", i, false
	}
	if j > 0 {
		s = unsafe.String(&data[i], j)
	}
	return s, i + j + 1, true
}
