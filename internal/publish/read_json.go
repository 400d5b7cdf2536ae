package publish

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// The words a reject carries for JSON input; never a value of the input.
const (
	errNotObjectLine = "the line is not one JSON object"
	errArrayLine     = "the line is a JSON array, but not of row objects"
	errNotObjectElem = "the array element is not a JSON object"
	errNotValidElem  = "the array element is not valid JSON"
	errBrokenJSON    = "the input is not valid JSON from here on; rows after this point were not read"
)

// maxBroken bounds how much of a broken JSON input is kept as the message that
// stands for it (NATS's default maximum payload).
const maxBroken = 1 << 20

// jsonLines reads JSON Lines: each non-blank line is a row object, or an array of
// row objects that is a message of its own (it already is a message of many rows),
// or else a line passed on as it came, with an Err.
type jsonLines struct {
	br   *bufio.Reader
	line int
	long []byte
	rows slab
	ids  slab
	sc   rowScan
}

func newJSONLines(br *bufio.Reader) *jsonLines {
	j := &jsonLines{br: br}
	j.sc.ids = &j.ids
	return j
}

func (j *jsonLines) next() (row, error) {
	for {
		b, err := j.readLine()
		if len(b) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return row{}, io.EOF
			}
			return row{}, fmt.Errorf("publish: reading line %d: %w", j.line+1, err)
		}
		j.line++
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue // blank lines separate nothing
		}
		return j.parse(j.rows.copy(b)), nil
	}
}

// readLine returns the next line without copying when it fits the buffer.
func (j *jsonLines) readLine() ([]byte, error) {
	b, err := j.br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return b, err
	}
	j.long = append(j.long[:0], b...)
	for errors.Is(err, bufio.ErrBufferFull) {
		b, err = j.br.ReadSlice('\n')
		j.long = append(j.long, b...)
	}
	return j.long, err
}

func (j *jsonLines) parse(b []byte) row {
	switch shape, id, n := j.sc.scan(b); shape {
	case shapeObject:
		return row{data: b, id: id, line: j.line}
	case shapeArrayOfObjects:
		return row{data: b, alone: true, rows: n, line: j.line}
	case shapeOther:
		if b[0] == '[' {
			return row{data: b, alone: true, rows: max(n, 1), line: j.line, err: errArrayLine}
		}
	}
	return row{data: b, alone: true, rows: 1, line: j.line, err: errNotObjectLine}
}

// jsonStream reads a JSON array of row objects element by element (and, after it,
// any further arrays or objects, as a stream of JSON values). An element that is not
// a valid object is a row of its own with an Err; where the array itself breaks, the
// rest of the input is one row with an Err and reading stops.
type jsonStream struct {
	br      *bufio.Reader
	line    int  // line of the next byte
	inArray bool // inside a top-level array
	sep     bool // an element was read: a ',' or ']' comes next
	done    bool
	buf     []byte
	rows    slab
	ids     slab
	sc      rowScan
}

func newJSONStream(br *bufio.Reader) *jsonStream {
	s := &jsonStream{br: br, line: 1}
	s.sc.ids = &s.ids
	return s
}

func (s *jsonStream) next() (row, error) {
	for !s.done {
		c, err := s.peekNonSpace()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return row{}, fmt.Errorf("publish: reading line %d: %w", s.line, err)
			}
			if s.inArray {
				return s.broken()
			}
			return row{}, io.EOF
		}
		switch {
		case s.inArray && s.sep:
			if c != ',' && c != ']' {
				return s.broken()
			}
			_, _ = s.br.Discard(1)
			s.sep, s.inArray = false, c == ','
			continue
		case s.inArray && c == ']':
			_, _ = s.br.Discard(1)
			s.inArray = false
			continue
		case !s.inArray && c == '[':
			_, _ = s.br.Discard(1)
			s.inArray = true
			if c, err := s.peekNonSpace(); err == nil && c == ']' {
				_, _ = s.br.Discard(1)
				s.inArray = false // an empty array
			}
			continue
		}
		line := s.line
		v, err := s.value()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return row{}, fmt.Errorf("publish: reading line %d: %w", s.line, err)
			}
			s.line = line
			return s.broken()
		}
		s.sep = s.inArray
		data := s.rows.copy(v)
		if shape, id, _ := s.sc.scan(data); shape == shapeObject {
			return row{data: data, id: id, line: line}, nil
		}
		why := errNotObjectElem
		if data[0] == '{' {
			why = errNotValidElem
		}
		return row{data: data, alone: true, rows: 1, line: line, err: why}, nil
	}
	return row{}, io.EOF
}

// broken ends the stream: what is left of the input (up to maxBroken) is one row
// that cannot be read.
func (s *jsonStream) broken() (row, error) {
	s.done = true
	rest, _ := io.ReadAll(io.LimitReader(s.br, maxBroken))
	data := append(append([]byte(nil), s.buf...), rest...)
	if len(data) > maxBroken {
		data = data[:maxBroken]
	}
	return row{data: data, alone: true, rows: 1, line: s.line, err: errBrokenJSON}, nil
}

// peekNonSpace skips white space, counting lines, and returns the next byte unread.
func (s *jsonStream) peekNonSpace() (byte, error) {
	s.buf = s.buf[:0]
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case '\n':
			s.line++
			continue
		case ' ', '\t', '\r':
			continue
		}
		return c, s.br.UnreadByte()
	}
}

// value reads the bytes of the JSON value that starts at the next byte: an object or
// array to its matching bracket, a string to its closing quote, anything else to the
// next delimiter. Only brackets and strings are tracked; the row parser checks the
// rest. io.EOF means the input ended inside the value.
func (s *jsonStream) value() ([]byte, error) {
	s.buf = s.buf[:0]
	depth, inStr, esc, scalar := 0, false, false, false
	start := true
	for {
		chunk, err := s.br.Peek(max(s.br.Buffered(), 1))
		if len(chunk) == 0 {
			if scalar && errors.Is(err, io.EOF) {
				return s.buf, nil
			}
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		end := -1
	scan:
		for i, c := range chunk {
			if start {
				start = false
				switch c {
				case '{', '[':
					depth = 1
				case '"':
					inStr = true
				default:
					scalar = true
				}
				continue
			}
			switch {
			case inStr:
				switch {
				case esc:
					esc = false
				case c == '\\':
					esc = true
				case c == '"':
					inStr = false
					if depth == 0 {
						end = i + 1
						break scan
					}
				}
			case scalar:
				switch c {
				case ',', ']', '}', '[', '{', '"', ' ', '\t', '\r', '\n':
					end = i
					break scan
				}
			case c == '"':
				inStr = true
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				depth--
				if depth == 0 {
					end = i + 1
					break scan
				}
			}
		}
		n := len(chunk)
		if end >= 0 {
			n = end
		}
		s.buf = append(s.buf, chunk[:n]...)
		s.line += bytes.Count(chunk[:n], []byte{'\n'})
		_, _ = s.br.Discard(n)
		if end >= 0 {
			return s.buf, nil
		}
	}
}
