// Package publish reads rows from CSV or JSON Lines and publishes them to a
// destination's rows subject (SPEC §3, §6 `worker publish`), asynchronously and with
// every publish acknowledged.
//
// Rows are turned into NATS messages the way upstream publishers are expected to
// send them: consecutive rows that share an event_id (the line items of one order)
// become one message holding a JSON array, so the worker merges them into one event;
// every other row is a message of its own holding one JSON object.
//
// A JSON Lines line that is not valid JSON is published as it is, in a message of its
// own: the worker dead-letters it as malformed_message, where the operator sees it.
// Dropping it here would lose it silently; refusing the whole file would block every
// good row behind one bad line. A line holding a JSON array is published as it is
// too (it already is a message of many rows). A CSV record whose number of cells does
// not match the header is an error that stops the read, naming the line: CSV has no
// way to say which cell went missing.
package publish

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Format is the layout of a rows file.
type Format string

// The formats Reader understands.
const (
	FormatAuto  Format = ""      // by file extension, else by the first byte
	FormatCSV   Format = "csv"   // a header line, then one row per record; cells are strings
	FormatJSONL Format = "jsonl" // one JSON object per line
)

// ParseFormat reads a --format flag value: auto, csv, jsonl (or ndjson).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return FormatAuto, nil
	case "csv":
		return FormatCSV, nil
	case "jsonl", "ndjson", "json":
		return FormatJSONL, nil
	}
	return "", fmt.Errorf("unknown format %q: use auto, csv or jsonl", s)
}

// FormatOf guesses a file's format from its extension: .csv, .jsonl or .ndjson;
// FormatAuto when the name says nothing, and the reader then looks at the first byte.
func FormatOf(name string) Format {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return FormatCSV
	case ".jsonl", ".ndjson":
		return FormatJSONL
	}
	return FormatAuto
}

// Message is one NATS message to publish: a JSON object (one row) or a JSON array
// (the rows of one event_id), or a malformed line as it came.
type Message struct {
	Data []byte
	Rows int // rows in Data
	Line int // line of the input where its first row starts (1-based)
}

// Source yields messages until it returns io.EOF.
type Source interface {
	Next() (Message, error)
}

// row is one decoded input row.
type row struct {
	data    []byte // a JSON object, or the raw line when alone is set
	eventID string // "" = none: never grouped
	alone   bool   // a line published as it is (array or not JSON), never grouped
	rows    int    // rows in data when alone (an array holds many)
	line    int
}

// Reader turns CSV or JSON Lines into Messages, grouping consecutive rows that share
// an event_id. It streams: memory holds one group at a time, not the file.
type Reader struct {
	next    func() (row, error)
	pending []row
	err     error // sticky: returned once pending is flushed
}

// NewReader reads rows from r in format f; with FormatAuto it sniffs the first
// non-blank byte ('{' or '[' means JSON Lines, anything else CSV).
func NewReader(r io.Reader, f Format) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if f == FormatAuto {
		f = sniff(br)
	}
	rd := &Reader{}
	switch f {
	case FormatJSONL:
		rd.next = jsonlRows(br)
	case FormatCSV:
		next, err := csvRows(br)
		if err != nil {
			return nil, err
		}
		rd.next = next
	default:
		return nil, fmt.Errorf("publish: unknown format %q", f)
	}
	return rd, nil
}

func sniff(br *bufio.Reader) Format {
	for i := 1; ; i++ {
		b, err := br.Peek(i)
		if err != nil || len(b) < i {
			return FormatCSV // empty or all blank: CSV reports "no header"
		}
		c := b[i-1]
		switch {
		case i == 1 && c == 0xEF:
			// a UTF-8 BOM: only spreadsheets write one, and they write CSV
			return FormatCSV
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			if i >= 4096 {
				return FormatCSV
			}
			continue
		case c == '{' || c == '[':
			return FormatJSONL
		default:
			return FormatCSV
		}
	}
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
		if len(r.pending) > 0 && (rw.alone || rw.eventID == "" || rw.eventID != r.pending[0].eventID) {
			m := r.flush()
			r.pending = append(r.pending, rw)
			return m, nil
		}
		r.pending = append(r.pending, rw)
		if rw.alone || rw.eventID == "" {
			return r.flush(), nil
		}
	}
}

func (r *Reader) flush() Message {
	p := r.pending
	r.pending = r.pending[:0]
	if len(p) == 1 {
		n := p[0].rows
		if n == 0 {
			n = 1
		}
		return Message{Data: p[0].data, Rows: n, Line: p[0].line}
	}
	size := 2
	for _, rw := range p {
		size += len(rw.data) + 1
	}
	buf := make([]byte, 0, size)
	buf = append(buf, '[')
	for i, rw := range p {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, rw.data...)
	}
	buf = append(buf, ']')
	return Message{Data: buf, Rows: len(p), Line: p[0].line}
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

func jsonlRows(br *bufio.Reader) func() (row, error) {
	line := 0
	return func() (row, error) {
		for {
			b, err := br.ReadBytes('\n')
			if len(b) == 0 && err != nil {
				if errors.Is(err, io.EOF) {
					return row{}, io.EOF
				}
				return row{}, fmt.Errorf("publish: reading line %d: %w", line+1, err)
			}
			line++
			b = bytes.TrimSpace(b)
			if len(b) == 0 {
				continue // blank lines separate nothing
			}
			return jsonRow(b, line), nil
		}
	}
}

// jsonRow decodes just enough of a line to find its event_id.
func jsonRow(b []byte, line int) row {
	if b[0] == '[' {
		var arr []json.RawMessage
		if err := json.Unmarshal(b, &arr); err != nil {
			return row{data: b, alone: true, rows: 1, line: line}
		}
		return row{data: b, alone: true, rows: max(len(arr), 1), line: line}
	}
	var probe struct {
		EventID json.RawMessage `json:"event_id"`
	}
	if b[0] != '{' || json.Unmarshal(b, &probe) != nil {
		return row{data: b, alone: true, rows: 1, line: line}
	}
	return row{data: b, eventID: eventIDOf(probe.EventID), line: line}
}

// eventIDOf is the event_id as the worker reads it: a string, or a number taken as
// its decimal text (so 42 and "42" group together); null and "" are absent.
func eventIDOf(raw json.RawMessage) string {
	if len(raw) == 0 || raw[0] == 'n' {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return s
	}
	if raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9') {
		return string(raw)
	}
	return ""
}

func csvRows(br *bufio.Reader) (func() (row, error), error) {
	if b, _ := br.Peek(3); bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3) // spreadsheets start UTF-8 CSV with a byte-order mark
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("publish: the CSV input is empty: it needs a header line naming the columns (timestamp,event,event_id,email,…)")
	}
	if err != nil {
		return nil, fmt.Errorf("publish: reading the CSV header: %w", err)
	}
	// Keys are the lower-cased, trimmed column names, JSON-encoded once.
	keys := make([][]byte, len(header))
	seen := map[string]bool{}
	eventIDCol := -1
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		if name == "" {
			continue // an unnamed column carries nothing the worker reads
		}
		if seen[name] {
			return nil, fmt.Errorf("publish: CSV header names column %q twice", name)
		}
		seen[name] = true
		keys[i] = appendJSONString(nil, name)
		if name == "event_id" {
			eventIDCol = i
		}
	}
	return func() (row, error) {
		rec, err := cr.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return row{}, io.EOF
			}
			return row{}, fmt.Errorf("publish: CSV: %w (fix the file; rows before it were read)", err)
		}
		line, _ := cr.FieldPos(0)
		buf := make([]byte, 0, 256)
		buf = append(buf, '{')
		for i, cell := range rec {
			if cell == "" || keys[i] == nil {
				continue // empty cells count as absent (SPEC §3)
			}
			if len(buf) > 1 {
				buf = append(buf, ',')
			}
			buf = append(buf, keys[i]...)
			buf = append(buf, ':')
			buf = appendJSONString(buf, cell)
		}
		buf = append(buf, '}')
		rw := row{data: buf, line: line}
		if eventIDCol >= 0 {
			rw.eventID = rec[eventIDCol]
		}
		return rw, nil
	}, nil
}

// appendJSONString appends s as a JSON string. encoding/json would allocate per cell,
// and CSV files are all cells.
func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			buf = append(buf, '\\', byte(r))
		case r == '\n':
			buf = append(buf, '\\', 'n')
		case r == '\r':
			buf = append(buf, '\\', 'r')
		case r == '\t':
			buf = append(buf, '\\', 't')
		case r < 0x20:
			buf = append(buf, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xF])
		default:
			buf = utf8.AppendRune(buf, r) // invalid UTF-8 arrives as U+FFFD
		}
	}
	return append(buf, '"')
}
