package publish

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// The words a reject carries for CSV input; never a value of the input.
const errCSVQuotes = "the CSV record cannot be parsed (check its quotes)"

// csvRows reads CSV with a header line. Each record becomes a JSON object of strings
// keyed by the lower-cased, trimmed column names, empty cells omitted (SPEC §3). A
// record with another number of fields than the header, or one the CSV reader cannot
// parse, is a row of its own passed on as it came, with an Err: CSV has no way to
// say which cell went missing, and the rows after it are read as usual.
type csvRows struct {
	cr     *csv.Reader
	rec    *recorder
	start  int64    // stream offset where the CSV reader starts (after a byte-order mark)
	keys   [][]byte // JSON-encoded column names; nil for an unnamed column
	idCols []int    // columns named event_id (a header may repeat one)
	header bool
	done   bool
}

func newCSVRows(br *bufio.Reader, rec *recorder, start int64) *csvRows {
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1 // a ragged record is one bad row, not the end of input
	return &csvRows{cr: cr, rec: rec, start: start}
}

func (c *csvRows) next() (row, error) {
	if c.done {
		return row{}, io.EOF
	}
	if !c.header {
		if err := c.readHeader(); err != nil {
			c.done = true
			return row{}, err
		}
	}
	before := c.start + c.cr.InputOffset()
	rec, err := c.cr.Read()
	after := c.start + c.cr.InputOffset()
	if err != nil {
		var pe *csv.ParseError
		if !errors.As(err, &pe) {
			c.done = true
			if errors.Is(err, io.EOF) {
				return row{}, io.EOF
			}
			return row{}, fmt.Errorf("publish: reading CSV: %w", err)
		}
		if after == before {
			c.done = true // no progress: nothing more can be read
		}
		return c.unread(before, after, pe.StartLine, errCSVQuotes), nil
	}
	line, _ := c.cr.FieldPos(0)
	if len(rec) != len(c.keys) {
		return c.unread(before, after, line, fmt.Sprintf("the CSV record has %d fields but the header has %d", len(rec), len(c.keys))), nil
	}
	c.rec.forget(after)
	buf := make([]byte, 0, 256)
	buf = append(buf, '{')
	for i, cell := range rec {
		if cell == "" || c.keys[i] == nil {
			continue // empty cells count as absent (SPEC §3)
		}
		if len(buf) > 1 {
			buf = append(buf, ',')
		}
		buf = append(buf, c.keys[i]...)
		buf = append(buf, ':')
		buf = appendJSONString(buf, cell)
	}
	buf = append(buf, '}')
	rw := row{data: buf, line: line}
	for _, i := range c.idCols {
		if rec[i] != "" { // the first event_id given, as the worker reads the row
			rw.id = []byte(rec[i])
			break
		}
	}
	return rw, nil
}

// unread is the record between the stream offsets from and to, as it came.
func (c *csvRows) unread(from, to int64, line int, why string) row {
	data := c.rec.bytes(from, to)
	c.rec.forget(to)
	return row{data: data, alone: true, rows: 1, line: line, err: why}
}

// readHeader reads the column names. A column named twice is kept twice: every row
// that fills both is then an invalid_row naming it, as a JSON row with a repeated
// key is.
func (c *csvRows) readHeader() error {
	header, err := c.cr.Read()
	if errors.Is(err, io.EOF) {
		return io.EOF // an empty input has no rows
	}
	if err != nil {
		return fmt.Errorf("publish: reading the CSV header (the first line must name the columns: timestamp,event,event_id,email,…): %w", err)
	}
	c.header = true
	c.rec.forget(c.start + c.cr.InputOffset())
	c.keys = make([][]byte, len(header))
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		if name == "" {
			continue // an unnamed column carries nothing the worker reads
		}
		c.keys[i] = appendJSONString(nil, name)
		if name == "event_id" {
			c.idCols = append(c.idCols, i)
		}
	}
	return nil
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
