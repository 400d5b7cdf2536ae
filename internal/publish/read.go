package publish

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// Format is the layout of a rows file.
type Format string

// The formats Reader understands.
const (
	FormatAuto  Format = ""      // by file extension, else by the first byte
	FormatCSV   Format = "csv"   // a header line, then one row per record; cells are strings
	FormatJSONL Format = "jsonl" // one JSON object (or array of objects) per line
	FormatJSON  Format = "json"  // a JSON array of row objects, read element by element
)

// ParseFormat reads a --format flag value: auto, csv, jsonl (or ndjson), json.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return FormatAuto, nil
	case "csv":
		return FormatCSV, nil
	case "jsonl", "ndjson":
		return FormatJSONL, nil
	case "json":
		return FormatJSON, nil
	}
	return "", fmt.Errorf("unknown format %q: use auto, csv, jsonl or json", s)
}

// FormatOf guesses a file's format from its extension: .csv, .jsonl, .ndjson or
// .json; FormatAuto when the name says nothing, and the reader then looks at the
// first byte.
func FormatOf(name string) Format {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return FormatCSV
	case ".jsonl", ".ndjson":
		return FormatJSONL
	case ".json":
		return FormatJSON
	}
	return FormatAuto
}

// Message is one NATS message to publish: a JSON object (one row) or a JSON array
// (the rows of one event_id, or an array line as it came), or an input record that
// could not be read as rows, as it came.
type Message struct {
	Data  []byte
	Rows  int   // rows in Data
	Line  int   // line of the input where its first row starts (1-based)
	Lines []int // line of each row of a group; nil when every row is at Line

	// Err says why Data could not be read as rows, in plain words that never quote
	// the input ("the CSV record has 3 fields but the header has 4"). The worker
	// dead-letters such a message as malformed_message; preview reports it so.
	Err string
}

// LineOf is the input line where row i of the message starts.
func (m *Message) LineOf(i int) int {
	if i < len(m.Lines) {
		return m.Lines[i]
	}
	return m.Line
}

// Source yields messages until it returns io.EOF.
type Source interface {
	Next() (Message, error)
}

// row is one input row, or one input record that could not be read as rows.
type row struct {
	data  []byte // a JSON object; an array line or an unreadable record when alone
	id    []byte // event_id as the worker reads it; nil: none, never grouped
	alone bool   // a message of its own, never grouped
	rows  int    // rows in data when alone (an array holds many)
	line  int
	err   string // why data is not rows (alone is then set)
}

// Reader turns CSV, JSON Lines or a JSON array into Messages, grouping consecutive
// rows that share an event_id. It streams: memory holds one group at a time, not the
// file. It is the one reader of `worker publish` and `worker preview`, so the two
// group and reject the rows of a file alike.
type Reader struct {
	next    func() (row, error)
	pending []row
	err     error // sticky: returned once pending is flushed
}

// readBuffer is the size of the input buffer; a sniff looks at most this far.
const readBuffer = 64 << 10

// NewReader reads rows from r in format f. With FormatAuto it looks at the first
// non-blank byte after an optional UTF-8 byte-order mark: '[' is a JSON array, '{'
// JSON Lines, anything else CSV. The error is for an unknown format only; problems
// of the input come from Next.
func NewReader(r io.Reader, f Format) (*Reader, error) {
	rec := &recorder{r: r, on: true}
	br := bufio.NewReaderSize(rec, readBuffer)
	bom := 0
	if b, _ := br.Peek(3); string(b) == "\ufeff" {
		bom, _ = br.Discard(3) // spreadsheets start UTF-8 files with a byte-order mark
	}
	if f == FormatAuto {
		f = sniff(br)
	}
	rd := &Reader{}
	switch f {
	case FormatJSONL:
		rec.stop()
		rd.next = newJSONLines(br).next
	case FormatJSON:
		rec.stop()
		rd.next = newJSONStream(br).next
	case FormatCSV:
		rd.next = newCSVRows(br, rec, int64(bom)).next
	default:
		return nil, fmt.Errorf("publish: unknown format %q: use csv, jsonl or json", f)
	}
	return rd, nil
}

// sniff peeks one byte more at a time, so that a pipe that is slow to fill is not
// waited on for more than the first non-blank byte.
func sniff(br *bufio.Reader) Format {
	for i := 1; i <= readBuffer; i++ {
		b, _ := br.Peek(i)
		if len(b) < i {
			break // empty or all blank: no rows either way
		}
		switch b[i-1] {
		case ' ', '\t', '\r', '\n':
			continue
		case '[':
			return FormatJSON
		case '{':
			return FormatJSONL
		}
		break
	}
	return FormatCSV
}

// Next returns the next message, or io.EOF after the last one.
func (r *Reader) Next() (Message, error) {
	for {
		if r.err != nil {
			if len(r.pending) > 0 {
				return r.flush(), nil
			}
			return Message{}, r.err
		}
		rw, err := r.next()
		if err != nil {
			r.err = err
			continue
		}
		if len(r.pending) > 0 && (rw.alone || rw.id == nil || string(rw.id) != string(r.pending[0].id)) {
			m := r.flush()
			r.pending = append(r.pending, rw)
			return m, nil
		}
		r.pending = append(r.pending, rw)
		if rw.alone || rw.id == nil {
			return r.flush(), nil
		}
	}
}

func (r *Reader) flush() Message {
	p := r.pending
	r.pending = r.pending[:0]
	if len(p) == 1 {
		n := p[0].rows
		if !p[0].alone {
			n = 1
		}
		return Message{Data: p[0].data, Rows: n, Line: p[0].line, Err: p[0].err}
	}
	size := 2
	for _, rw := range p {
		size += len(rw.data) + 1
	}
	buf := make([]byte, 0, size)
	lines := make([]int, len(p))
	buf = append(buf, '[')
	for i, rw := range p {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, rw.data...)
		lines[i] = rw.line
	}
	buf = append(buf, ']')
	return Message{Data: buf, Rows: len(p), Line: p[0].line, Lines: lines}
}

// ReadAll reads every message of r.
func ReadAll(r io.Reader, f Format) ([]Message, error) {
	rd, err := NewReader(r, f)
	if err != nil {
		return nil, err
	}
	var out []Message
	for {
		m, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

// slab hands out owned copies of small byte slices carved from 64 KiB blocks: one
// allocation for hundreds of rows instead of one each. A block lives as long as any
// message that points into it.
type slab struct{ block []byte }

const slabBlock = 64 << 10

func (s *slab) copy(b []byte) []byte {
	if len(b) > slabBlock/4 {
		return append([]byte(nil), b...)
	}
	if cap(s.block)-len(s.block) < len(b) {
		s.block = make([]byte, 0, slabBlock)
	}
	n := len(s.block)
	s.block = append(s.block, b...)
	return s.block[n:len(s.block):len(s.block)]
}

// recorder keeps the bytes read through it since the last forget, so that a CSV
// record the CSV reader refuses can be passed on as it came.
type recorder struct {
	r    io.Reader
	on   bool
	buf  []byte
	base int64 // stream offset of buf[0]
}

func (t *recorder) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if t.on {
		t.buf = append(t.buf, p[:n]...)
	}
	return n, err
}

func (t *recorder) stop() { t.on, t.buf = false, nil }

// bytes returns a copy of the stream's bytes [from, to).
func (t *recorder) bytes(from, to int64) []byte {
	return append([]byte(nil), t.buf[from-t.base:to-t.base]...)
}

// forget drops the bytes before stream offset off once they are worth moving.
func (t *recorder) forget(off int64) {
	n := int(off - t.base)
	if n < readBuffer || n < len(t.buf)/2 {
		return
	}
	t.buf = t.buf[:copy(t.buf, t.buf[n:])]
	t.base = off
}
