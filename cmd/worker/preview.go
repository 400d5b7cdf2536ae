package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
)

// previewOptions are the flags of `worker preview`.
type previewOptions struct {
	eventSource    string
	eventSourceID  string
	fixedEventName string
	limitedDataUse bool
	testEventCode  string
	window         string
	phoneRegion    string
	now            string
	format         string
}

func (a *app) previewCmd() *cobra.Command {
	var o previewOptions
	cmd := &cobra.Command{
		Use:   "preview",
		Short: "Show the TikTok request bodies that rows on stdin would produce",
		Long: `preview reads rows (JSON Lines, a JSON array, or CSV with a header) on stdin and
writes the exact Events API request bodies they become on stdout, one JSON object per
line (at most 1,000 events each). Every rejected row is one JSON line on stderr,
{"line":N,"reason":…,"field":…,"error":…}, followed by one summary line.

The format is detected from the first character ('[' a JSON array, '{' JSON Lines,
anything else CSV) unless --format says. Rows that share an event_id anywhere in the
input are line items of one event, as within one queue message; so preview holds the
whole input in memory (about 2 KB a row): for a very large export, preview a sample
(head -n 100000 rows.jsonl | worker preview …).

Exit status: 0 when the input was read (whatever the rows held), 2 for a bad flag,
1 for an I/O error.`,
		Example: `  worker preview --event-source offline --fixed-event-name Purchase < testdata/offline.jsonl
  worker preview --event-source web --event-source-id CABCD123 --format csv < rows.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.preview(o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.eventSource, "event-source", events.SourceOffline, "web or offline")
	f.StringVar(&o.eventSourceID, "event-source-id", "", "Pixel code (web) or offline event set id, as the request carries it")
	f.StringVar(&o.fixedEventName, "fixed-event-name", "", "event name for rows without an event column")
	f.BoolVar(&o.limitedDataUse, "limited-data-use", false, `web only: mark events "limited_data_use": true`)
	f.StringVar(&o.testEventCode, "test-event-code", "", "top-level test_event_code of the requests")
	f.StringVar(&o.window, "window", "672h", "attribution window (at most 672h = 28 days)")
	f.StringVar(&o.phoneRegion, "phone-region", "US", "region of phone numbers without a country code (ISO 3166-1, e.g. US, GB)")
	f.StringVar(&o.now, "now", "", "the clock for the window, RFC 3339 (default: the current time)")
	f.StringVar(&o.format, "format", "", "jsonl, json or csv (default: detected)")
	return cmd
}

func usageErr(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func ioErr(err error) error { return &exitError{code: 1, err: err} }

// transformerFor turns the flags into a Transformer; a bad value is a usage error
// that names the flag.
func (o *previewOptions) transformer() (*events.Transformer, error) {
	cfg := events.Config{
		EventSource:    o.eventSource,
		EventSourceID:  o.eventSourceID,
		FixedEventName: o.fixedEventName,
		PhoneRegion:    o.phoneRegion,
		LimitedDataUse: o.limitedDataUse,
		TestEventCode:  o.testEventCode,
		Now:            time.Now,
	}
	if o.eventSource != events.SourceWeb && o.eventSource != events.SourceOffline {
		return nil, usageErr("--event-source %q: use web or offline", o.eventSource)
	}
	w, err := time.ParseDuration(o.window)
	if err != nil || w <= 0 || w > events.DefaultWindow {
		return nil, usageErr("--window %q: give a duration up to 672h (28 days), e.g. 168h", o.window)
	}
	cfg.Window = w
	if o.now != "" {
		t, err := time.Parse(time.RFC3339, o.now)
		if err != nil {
			return nil, usageErr("--now %q: give an RFC 3339 time such as 2025-11-24T12:00:00Z", o.now)
		}
		cfg.Now = func() time.Time { return t }
	}
	switch o.format {
	case "", "jsonl", "json", "csv":
	default:
		return nil, usageErr("--format %q: use jsonl, json or csv", o.format)
	}
	tr, err := events.NewTransformer(cfg)
	if err != nil {
		// NewTransformer names the setting as in the config file; name the flag.
		msg := err.Error()
		for key, flag := range map[string]string{"phone_region": "--phone-region", "fixed_event_name": "--fixed-event-name"} {
			if strings.HasPrefix(msg, key) {
				msg = flag + msg[len(key):]
			}
		}
		return nil, usageErr("%s", msg)
	}
	return tr, nil
}

func (a *app) preview(o previewOptions) error {
	tr, err := o.transformer()
	if err != nil {
		return err
	}
	data, err := readAll(a.stdin)
	if err != nil {
		return ioErr(fmt.Errorf("reading stdin: %w", err))
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff")) // a BOM, as spreadsheet exports write
	format := o.format
	if format == "" {
		format = detectFormat(data)
	}

	var res events.Result
	tr.Reset(&res)
	if format != "json" {
		tr.Grow(bytes.Count(data, []byte("\n"))+1, len(data))
	} else {
		tr.Grow(bytes.Count(data, []byte("\n{"))+1, len(data))
	}
	var lines []int // input line of each row, by row index
	switch format {
	case "jsonl":
		lines = addJSONLines(tr, data)
	case "json":
		lines = addJSONArray(tr, data)
	case "csv":
		lines = addCSV(tr, data)
	}
	tr.Finish()

	out := bufio.NewWriterSize(a.stdout, 256<<10)
	if err := writeRequests(out, &o, res.Events); err != nil {
		return ioErr(fmt.Errorf("writing stdout: %w", err))
	}
	if err := out.Flush(); err != nil {
		return ioErr(fmt.Errorf("writing stdout: %w", err))
	}
	errw := bufio.NewWriter(a.stderr)
	for _, r := range res.Rejects {
		line, _ := json.Marshal(rejectLine{Line: lines[r.Row], Reason: string(r.Reason), Field: r.Field, Error: r.Err})
		errw.Write(line)
		errw.WriteByte('\n')
	}
	sum, _ := json.Marshal(map[string]summary{"summary": summarize(&res)})
	errw.Write(sum)
	errw.WriteByte('\n')
	if err := errw.Flush(); err != nil {
		return ioErr(fmt.Errorf("writing stderr: %w", err))
	}
	return nil
}

// readAll reads r whole, in one allocation when its size is known (a file or pipe
// from a file on stdin, a bytes.Reader in tests).
func readAll(r io.Reader) ([]byte, error) {
	size := 0
	switch v := r.(type) {
	case interface{ Len() int }:
		size = v.Len()
	case *os.File:
		if st, err := v.Stat(); err == nil && st.Mode().IsRegular() {
			size = int(st.Size())
		}
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// detectFormat: '[' is a JSON array, '{' JSON Lines (a single object is one line),
// anything else CSV.
func detectFormat(data []byte) string {
	t := bytes.TrimLeft(data, " \t\r\n")
	switch {
	case len(t) > 0 && t[0] == '[':
		return "json"
	case len(t) > 0 && t[0] == '{':
		return "jsonl"
	}
	return "csv"
}

// addJSONLines adds each non-blank line as one row; a line that is not one JSON
// object is a malformed_message reject and the run goes on.
func addJSONLines(tr *events.Transformer, data []byte) []int {
	var lines []int
	for n := 1; len(data) > 0; n++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		tr.AddObject(line)
		lines = append(lines, n)
	}
	return lines
}

// addJSONArray adds each element of a JSON array (or a single object, with --format
// json) as a row, at the line where it starts. If the array breaks off, the rest is
// one malformed_message reject at the line where the break is.
func addJSONArray(tr *events.Transformer, data []byte) []int {
	var lines []int
	t := bytes.TrimLeft(data, " \t\r\n")
	if len(t) > 0 && t[0] == '{' {
		tr.AddObject(data)
		return append(lines, 1+bytes.Count(data[:len(data)-len(t)], []byte("\n")))
	}
	line, at, end := 1, 0, 0
	lineOf := func(off int) int {
		line += bytes.Count(data[at:off], []byte("\n"))
		at = off
		return line
	}
	err := events.SplitArray(data, func(off int, elem []byte) bool {
		if elem[0] == '{' {
			tr.AddObject(elem)
		} else {
			tr.AddMalformed("the array element is not a JSON object")
		}
		lines = append(lines, lineOf(off))
		end = off + len(elem)
		return true
	})
	if err != nil {
		if end == 0 {
			end = len(data) - len(t)
		}
		tr.AddMalformed("the input is not valid JSON from here on; rows after this point were not read")
		lines = append(lines, lineOf(end))
	}
	return lines
}

// addCSV reads a header and records. A record the CSV reader cannot parse is a
// malformed_message reject at its line; reading goes on with the next one.
func addCSV(tr *events.Transformer, data []byte) []int {
	var lines []int
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1 // a short or long record is an invalid row, not the end of input
	header := true
	for {
		before := r.InputOffset()
		rec, err := r.Read()
		if err == io.EOF {
			return lines
		}
		if err != nil {
			var pe *csv.ParseError
			line := 0
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			tr.AddMalformed("the CSV record cannot be parsed (check its quotes)")
			lines = append(lines, line)
			if r.InputOffset() == before {
				return lines // no progress: nothing more can be read
			}
			continue
		}
		if header {
			tr.SetHeader(rec)
			header = false
			continue
		}
		line, _ := r.FieldPos(0)
		tr.AddRecord(rec)
		lines = append(lines, line)
	}
}

// writeRequests writes the request bodies, at most MaxEventsPerRequest events each.
func writeRequests(w *bufio.Writer, o *previewOptions, evs []events.Event) error {
	req := tiktokclient.Request{EventSource: o.eventSource, EventSourceID: o.eventSourceID, TestEventCode: o.testEventCode}
	var body []byte
	for len(evs) > 0 {
		n := min(len(evs), events.MaxEventsPerRequest)
		req.Events = req.Events[:0]
		for _, ev := range evs[:n] {
			req.Events = append(req.Events, ev.JSON)
		}
		evs = evs[n:]
		body = append(req.AppendBody(body[:0]), '\n')
		if _, err := w.Write(body); err != nil {
			return err
		}
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

// matchKeys is the share of events carrying each identity key, 0 to 1.
type matchKeys struct {
	Email      float64 `json:"email"`
	Phone      float64 `json:"phone"`
	ExternalID float64 `json:"external_id"`
	IP         float64 `json:"ip"`
	UserAgent  float64 `json:"user_agent"`
	TTP        float64 `json:"ttp"`
	TTCLID     float64 `json:"ttclid"`
}

func summarize(res *events.Result) summary {
	s := summary{
		Rows:       res.Rows,
		Events:     len(res.Events),
		Requests:   (len(res.Events) + events.MaxEventsPerRequest - 1) / events.MaxEventsPerRequest,
		Duplicates: len(res.Duplicates),
	}
	for _, r := range res.Rejects {
		switch r.Reason {
		case events.ReasonInvalidRow:
			s.Rejects.InvalidRow++
		case events.ReasonOutsideWindow:
			s.Rejects.OutsideWindow++
		case events.ReasonFutureTimestamp:
			s.Rejects.FutureTimestamp++
		case events.ReasonMalformedMessage:
			s.Rejects.MalformedMessage++
		}
	}
	var counts [7]int
	for _, ev := range res.Events {
		for b := range counts {
			if ev.Keys&(1<<b) != 0 {
				counts[b]++
			}
		}
	}
	share := func(n int) float64 {
		if len(res.Events) == 0 {
			return 0
		}
		return math.Round(float64(n)/float64(len(res.Events))*1e4) / 1e4
	}
	s.MatchKeys = matchKeys{share(counts[0]), share(counts[1]), share(counts[2]), share(counts[3]), share(counts[4]), share(counts[5]), share(counts[6])}
	if len(res.Ignored) > 0 {
		s.Ignored = make(map[string]string, len(res.Ignored))
		for _, ig := range res.Ignored {
			s.Ignored[ig.Name] = ig.Why
		}
	}
	return s
}
