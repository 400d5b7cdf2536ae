// Package sampledata makes deterministic sample rows for `worker demo`, the docs and
// the benchmarks: typical offline purchases with a realistic mix of problems, so that a
// new user sees every path of the pipeline (sent, duplicate, dead-lettered by reason).
package sampledata

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// PoisonEventID is the event_id of the one row the demo sandbox refuses (code 40002),
// so the client must bisect its request and dead-letter exactly that row as rejected.
const PoisonEventID = "demo-poison-0001"

// Mix says how many rows of each kind Generate makes.
type Mix struct {
	Good       int // valid purchases, each its own event
	LineItems  int // orders of 3 line items published as one message (3 rows each)
	Duplicates int // exact re-publishes of good rows (same event_id) in later messages
	Invalid    int // rows with a bad email, an impossible phone or no timestamp
	Old        int // older than the 28-day window
	Future     int // more than 10 minutes in the future
	Malformed  int // messages that are not JSON objects
	Poison     bool
}

// DefaultMix is the demo's ~10,000 rows.
var DefaultMix = Mix{Good: 9089, LineItems: 100, Duplicates: 300, Invalid: 150, Old: 100, Future: 50, Malformed: 10, Poison: true}

// Rows returns the number of rows m makes; a malformed message counts as one row.
func (m Mix) Rows() int {
	n := m.Good + 3*m.LineItems + m.Duplicates + m.Invalid + m.Old + m.Future + m.Malformed
	if m.Poison {
		n++
	}
	return n
}

// Generate returns NATS message bodies (one JSON object per message, or a JSON array
// for multi-row orders), shuffled deterministically by seed, with timestamps relative
// to now.
func Generate(m Mix, now time.Time, seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var msgs [][]byte
	ts := func() int64 { return now.Add(-time.Duration(r.IntN(20*24*3600)) * time.Second).Unix() }
	for i := 0; i < m.Good; i++ {
		b := row(r, fmt.Sprintf("demo-%06d", i), ts(), "sku-"+strconv.Itoa(r.IntN(500)), 1+r.IntN(3))
		msgs = append(msgs, b)
	}
	for i := 0; i < m.LineItems; i++ {
		id := fmt.Sprintf("order-%05d", i)
		t := ts()
		arr := []byte{'['}
		for j := 0; j < 3; j++ {
			if j > 0 {
				arr = append(arr, ',')
			}
			arr = append(arr, row(r, id, t, fmt.Sprintf("sku-%d", j), 1+j)...)
		}
		msgs = append(msgs, append(arr, ']'))
	}
	for i := 0; i < m.Invalid; i++ {
		id := fmt.Sprintf("invalid-%05d", i)
		switch i % 3 {
		case 0:
			msgs = append(msgs, []byte(fmt.Sprintf(`{"event_id":%q,"timestamp":%d,"email":"not-an-address","price":"5.00","quantity":1}`, id, ts())))
		case 1:
			msgs = append(msgs, []byte(fmt.Sprintf(`{"event_id":%q,"timestamp":%d,"phone":"555","price":"5.00","quantity":1}`, id, ts())))
		default:
			msgs = append(msgs, []byte(fmt.Sprintf(`{"event_id":%q,"email":"someone%d@example.com"}`, id, i)))
		}
	}
	for i := 0; i < m.Old; i++ {
		msgs = append(msgs, row(r, fmt.Sprintf("old-%05d", i), now.Add(-40*24*time.Hour).Unix(), "sku-old", 1))
	}
	for i := 0; i < m.Future; i++ {
		msgs = append(msgs, row(r, fmt.Sprintf("future-%05d", i), now.Add(2*time.Hour).Unix(), "sku-new", 1))
	}
	for i := 0; i < m.Malformed; i++ {
		msgs = append(msgs, []byte(fmt.Sprintf(`{"event_id":"broken-%d","timestamp":`, i)))
	}
	if m.Poison {
		msgs = append(msgs, row(r, PoisonEventID, ts(), "sku-poison", 1))
	}
	r.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	// Re-publishes go last and copy rows from the first half of the stream, the way a
	// retried upstream job re-sends rows long after the originals: they are then
	// duplicates of events already sent, not a race between two replicas.
	var early [][]byte
	for _, b := range msgs[:len(msgs)/2] {
		if bytes.HasPrefix(b, []byte(`{"event":"Purchase","event_id":"demo-`)) {
			early = append(early, b)
		}
	}
	for i := 0; i < m.Duplicates && len(early) > 0; i++ {
		msgs = append(msgs, early[r.IntN(len(early))])
	}
	return msgs
}

// phoneShapes are the formats upstream systems actually send.
var phoneShapes = []string{"(415) 555-%04d", "415.555.%04d", "+1 415 555 %04d", "1-415-555-%04d", "415555%04d", "+1415555%04d"}

func row(r *rand.Rand, id string, ts int64, sku string, qty int) []byte {
	phone := fmt.Sprintf(phoneShapes[r.IntN(len(phoneShapes))], r.IntN(10000))
	cents := 199 + r.IntN(20000)
	return []byte(fmt.Sprintf(`{"event":"Purchase","event_id":%q,"timestamp":%d,"email":"  Customer%d@Example.COM ","phone":%q,"content_id":%q,"price":"%d.%02d","quantity":%d,"currency":"usd","order_id":%q}`,
		id, ts, r.IntN(1_000_000), phone, sku, cents/100, cents%100, qty, "o-"+id))
}
