package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/publish"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
)

// previewer turns the messages of publish.Reader into request bodies as the worker
// would: each message is transformed on its own (rows that share an event_id within
// it are one event), and an event whose name and event_id were already output is a
// duplicate. Events go to stdout as they come; what it keeps is one 64-bit
// fingerprint per event output, so memory stays flat however long the input.
type previewer struct {
	tr   *events.Transformer
	res  events.Result
	out  *bufio.Writer
	errw *bufio.Writer

	// Events are written straight into out: the request envelope up to the first
	// event of the data array, events separated by commas, then the closing "]}".
	prefix []byte
	inReq  int // events written into the current request

	seed maphash.Seed
	seen fingerprints // of the events output (event name + event_id)

	// heapLimit, when set, is told the bytes the fingerprints take each time they grow
	heapLimit func(fingerprints int64)

	sum      summary
	keyNames []string // events.MatchKeyNames(): bit i of events.MatchKeys is keyNames[i]
	keys     []int    // events carrying each key
	ignored  map[string]string
}

func newPreviewer(tr *events.Transformer, o *previewOptions, stdout, stderr io.Writer) *previewer {
	names := events.MatchKeyNames()
	req := tiktokclient.Request{EventSource: o.eventSource, EventSourceID: o.eventSourceID, TestEventCode: o.testEventCode}
	empty := req.AppendBody(nil) // {…,"data":[]}
	return &previewer{
		tr:     tr,
		out:    bufio.NewWriterSize(stdout, 256<<10),
		errw:   bufio.NewWriterSize(stderr, 16<<10),
		prefix: bytes.TrimSuffix(empty, []byte("]}")),
		seed:   maphash.MakeSeed(),

		keyNames: names,
		keys:     make([]int, len(names)),
	}
}

// message previews one message of the reader.
func (p *previewer) message(m *publish.Message) error {
	if m.Err != "" {
		p.sum.Rows += max(m.Rows, 1)
		for i := range max(m.Rows, 1) {
			p.reject(m.LineOf(i), events.ReasonMalformedMessage, "", m.Err)
		}
		return nil
	}
	if err := p.tr.Message(m.Data, &p.res); err != nil {
		// The reader passes only what parses as rows; should the transform still
		// refuse it, every row is dead-lettered with the message, as in the worker.
		p.sum.Rows += m.Rows
		for i := range m.Rows {
			p.reject(m.LineOf(i), events.ReasonMalformedMessage, "", err.Error())
		}
		return nil
	}
	res := &p.res
	p.sum.Rows += res.Rows
	for _, r := range res.Rejects {
		p.reject(m.LineOf(r.Row), r.Reason, r.Field, inLines(r.Err, m))
	}
	p.sum.Duplicates += len(res.Duplicates)
	for _, ig := range res.Ignored {
		if p.ignored == nil {
			p.ignored = make(map[string]string)
		}
		p.ignored[ig.Name] = ig.Why
	}
	for i := range res.Events {
		ev := &res.Events[i]
		if !p.firstTime(ev) {
			p.sum.Duplicates += len(ev.Rows)
			continue
		}
		p.sum.Events++
		for b := range p.keys {
			if ev.Keys.Has(1 << b) {
				p.keys[b]++
			}
		}
		if p.inReq == 0 {
			p.out.Write(p.prefix)
		} else {
			p.out.WriteByte(',')
		}
		p.out.Write(ev.JSON)
		if p.inReq++; p.inReq == events.MaxEventsPerRequest {
			if err := p.flushRequest(); err != nil {
				return err
			}
		}
	}
	return nil
}

// inLines rewrites the transform's "row N of this message" (N counted from 0 in the
// message), which names the bad row of an event sent whole or not at all, to the
// input line a preview user can find it at.
func inLines(msg string, m *publish.Message) string {
	rest, ok := strings.CutPrefix(msg, "row ")
	if !ok {
		return msg
	}
	num, tail, ok := strings.Cut(rest, " of this message")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n < 0 || n >= m.Rows {
		return msg
	}
	return "the row at line " + strconv.Itoa(m.LineOf(n)) + tail
}

// firstTime records the event's fingerprint and reports whether it is new.
func (p *previewer) firstTime(ev *events.Event) bool {
	var h maphash.Hash
	h.SetSeed(p.seed)
	h.WriteString(ev.Name)
	h.WriteByte(0)
	h.WriteString(ev.ID)
	size := len(p.seen.slots)
	added := p.seen.add(h.Sum64())
	if len(p.seen.slots) != size && p.heapLimit != nil {
		p.heapLimit(int64(len(p.seen.slots)) * 8)
	}
	return added
}

func (p *previewer) reject(line int, reason events.Reason, field, msg string) {
	switch reason {
	case events.ReasonInvalidRow:
		p.sum.Rejects.InvalidRow++
	case events.ReasonOutsideWindow:
		p.sum.Rejects.OutsideWindow++
	case events.ReasonFutureTimestamp:
		p.sum.Rejects.FutureTimestamp++
	case events.ReasonMalformedMessage:
		p.sum.Rejects.MalformedMessage++
	}
	b, _ := json.Marshal(rejectLine{Line: line, Reason: string(reason), Field: field, Error: msg})
	p.errw.Write(b)
	p.errw.WriteByte('\n')
}

// flushRequest closes the current request and flushes both streams, so a reader of
// stdout sees each request as soon as it is complete. A write error is sticky in
// out, so it surfaces here.
func (p *previewer) flushRequest() error {
	if p.inReq == 0 {
		return nil
	}
	p.out.WriteString("]}\n")
	p.inReq = 0
	p.sum.Requests++
	if err := p.out.Flush(); err != nil {
		return fmt.Errorf("writing stdout: %w", err)
	}
	if err := p.errw.Flush(); err != nil {
		return fmt.Errorf("writing stderr: %w", err)
	}
	return nil
}

// finish writes the last request and the summary line.
func (p *previewer) finish() error {
	if err := p.flushRequest(); err != nil {
		return err
	}
	p.sum.MatchKeys = p.matchKeys()
	p.sum.Ignored = p.ignored
	b, _ := json.Marshal(map[string]summary{"summary": p.sum})
	p.errw.Write(b)
	p.errw.WriteByte('\n')
	if err := p.errw.Flush(); err != nil {
		return fmt.Errorf("writing stderr: %w", err)
	}
	return nil
}

type rejectLine struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
	Field  string `json:"field"`
	Error  string `json:"error"`
}

type summary struct {
	Rows       int               `json:"rows"`
	Events     int               `json:"events"`
	Requests   int               `json:"requests"`
	Duplicates int               `json:"duplicates"`
	Rejects    rejectCounts      `json:"rejects"`
	MatchKeys  matchKeys         `json:"match_keys"`
	Ignored    map[string]string `json:"ignored_columns,omitempty"`
}

type rejectCounts struct {
	InvalidRow       int `json:"invalid_row"`
	OutsideWindow    int `json:"outside_window"`
	FutureTimestamp  int `json:"future_timestamp"`
	MalformedMessage int `json:"malformed_message"`
}

// matchKeys is the share of events carrying each match key, 0 to 1, in the order of
// events.MatchKeyNames.
type matchKeys struct {
	names  []string
	shares []float64
}

func (m matchKeys) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, name := range m.names {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, name)
		b = append(b, ':')
		b = strconv.AppendFloat(b, m.shares[i], 'f', -1, 64)
	}
	return append(b, '}'), nil
}

func (p *previewer) matchKeys() matchKeys {
	m := matchKeys{names: p.keyNames, shares: make([]float64, len(p.keys))}
	for i, n := range p.keys {
		if p.sum.Events > 0 {
			m.shares[i] = math.Round(float64(n)/float64(p.sum.Events)*1e4) / 1e4
		}
	}
	return m
}
