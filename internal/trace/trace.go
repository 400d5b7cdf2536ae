package trace

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
)

// SentLookup is the part of the sent log trace reads (dedup.Store has it).
type SentLookup interface {
	Lookup(ctx context.Context, dest, id string) ([]dedup.Entry, error)
}

// Bounds of one trace's reads. Measured on a loaded 2-core machine, the DLQ is read at
// ~50,000 letters a second (a consumer streams them) and the rows stream at ~10,000
// messages a second (one get each: a work-queue stream takes no second consumer):
// together well under a second.
const (
	DefaultScanDLQ  = 20_000
	DefaultScanRows = 5_000
)

// Places an event id can be.
const (
	PlaceSent         = "sent"
	PlaceDeadLettered = "dead_lettered"
	PlaceWaiting      = "waiting"
	PlaceUnknown      = "unknown"
)

// Options say where to look.
type Options struct {
	Names broker.Names
	Sent  SentLookup // nil: the sent log is not consulted
	// ScanDLQ bounds the DLQ read to its newest ScanDLQ letters (≤ 0: DefaultScanDLQ);
	// ScanRows bounds the rows-stream read to the destination's first ScanRows waiting
	// messages (≤ 0: DefaultScanRows).
	ScanDLQ, ScanRows int
}

// Sent is one request TikTok accepted holding the event id.
type Sent struct {
	Event      string    `json:"event,omitempty"` // the event name ("" for a receipt of the first version)
	AcceptedAt time.Time `json:"accepted_at"`
	RequestID  string    `json:"request_id,omitempty"` // TikTok's request_id
	Seq        uint64    `json:"seq,omitempty"`        // the record's sequence in the sent log
}

// Letter is one dead letter of the event id.
type Letter struct {
	Seq      uint64    `json:"seq"` // in the DLQ stream: `worker dlq rm SEQ`
	Reason   string    `json:"reason"`
	Error    string    `json:"error,omitempty"`
	Field    string    `json:"field,omitempty"`
	Code     int       `json:"tiktok_code,omitempty"`
	FailedAt time.Time `json:"failed_at"`
}

// Copy is one message of the rows stream that holds the event id.
type Copy struct {
	Seq       uint64    `json:"seq"`       // in the rows stream
	Published time.Time `json:"published"` // when the stream stored it
	Rows      int       `json:"rows"`      // rows of the event in the message (an order's line items)
	Delivered bool      `json:"delivered"` // delivered to the destination's consumer, awaiting its ack
}

// Waiting is where the event id waits in the rows stream.
type Waiting struct {
	Copies []Copy `json:"copies"`
	// Redelivering is how many messages the destination's consumer is redelivering
	// (consumer-wide: JetStream does not tell one message's count without consuming).
	Redelivering int `json:"consumer_redelivering"`
}

// Result is everything known about one event id.
type Result struct {
	EventID      string   `json:"event_id"`
	Destination  string   `json:"destination"`
	Places       []string `json:"places"` // in the order sent, dead_lettered, waiting; or unknown
	Sent         []Sent   `json:"sent,omitempty"`
	DeadLettered []Letter `json:"dead_lettered,omitempty"`
	Waiting      *Waiting `json:"waiting,omitempty"`
}

// Coverage says how much of each stream a trace read.
type Coverage struct {
	SentLog      bool   `json:"sent_log"`      // the sent log was consulted
	DLQScanned   int    `json:"dlq_scanned"`   // letters of the destination read
	DLQComplete  bool   `json:"dlq_complete"`  // false: older letters were left unread
	RowsScanned  int    `json:"rows_scanned"`  // messages of the destination read
	RowsWaiting  uint64 `json:"rows_waiting"`  // messages waiting on the destination's subject
	RowsComplete bool   `json:"rows_complete"` // false: later messages were left unread
}

// Trace looks up every id for dest. It only reads.
func Trace(ctx context.Context, js jetstream.JetStream, dest string, ids []string, o Options) ([]Result, Coverage, error) {
	if o.ScanDLQ <= 0 {
		o.ScanDLQ = DefaultScanDLQ
	}
	if o.ScanRows <= 0 {
		o.ScanRows = DefaultScanRows
	}
	results := make([]Result, len(ids))
	for i, id := range ids {
		results[i] = Result{EventID: id, Destination: dest}
	}
	cov := Coverage{SentLog: o.Sent != nil}
	if o.Sent != nil {
		for i, id := range ids {
			entries, err := o.Sent.Lookup(ctx, dest, id)
			if err != nil {
				return nil, cov, fmt.Errorf("trace: the sent log's lookup of an event id of %s: %w", dest, err)
			}
			for _, e := range entries {
				results[i].Sent = append(results[i].Sent, Sent{Event: e.Event, AcceptedAt: e.AcceptedAt.UTC(), RequestID: e.RequestID, Seq: e.Seq})
			}
		}
	}

	found, err := dlq.Find(ctx, js, o.Names, dest, ids, o.ScanDLQ)
	if err != nil {
		return nil, cov, fmt.Errorf("trace: %w", err)
	}
	cov.DLQScanned, cov.DLQComplete = found.Scanned, found.Complete
	for i, id := range ids {
		for _, e := range found.Letters[id] {
			results[i].DeadLettered = append(results[i].DeadLettered, Letter{
				Seq: e.Seq, Reason: e.Reason, Error: e.Error, Field: e.Field, Code: e.TikTokCode, FailedAt: e.FailedAt,
			})
		}
	}

	waiting, err := findWaiting(ctx, js, o.Names, dest, ids, o.ScanRows, &cov)
	if err != nil {
		return nil, cov, fmt.Errorf("trace: %w", err)
	}
	for i, id := range ids {
		results[i].Waiting = waiting[id]
	}
	for i := range results {
		r := &results[i]
		if len(r.Sent) > 0 {
			r.Places = append(r.Places, PlaceSent)
		}
		if len(r.DeadLettered) > 0 {
			r.Places = append(r.Places, PlaceDeadLettered)
		}
		if r.Waiting != nil {
			r.Places = append(r.Places, PlaceWaiting)
		}
		if len(r.Places) == 0 {
			r.Places = []string{PlaceUnknown}
		}
	}
	return results, cov, nil
}
