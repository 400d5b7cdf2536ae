package publish_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/publish"
)

type want struct {
	data string
	rows int
	line int
}

func TestReadAll(t *testing.T) {
	tests := []struct {
		name   string
		format publish.Format
		in     string
		want   []want
	}{
		{
			name:   "jsonl groups consecutive rows by event_id",
			format: publish.FormatJSONL,
			in: `{"event_id":"o-1","content_id":"a"}
{"event_id":"o-1","content_id":"b"}
{"event_id":"o-2","content_id":"c"}
{"event_id":"o-1","content_id":"d"}
`,
			want: []want{
				{`[{"event_id":"o-1","content_id":"a"},{"event_id":"o-1","content_id":"b"}]`, 2, 1},
				{`{"event_id":"o-2","content_id":"c"}`, 1, 3},
				{`{"event_id":"o-1","content_id":"d"}`, 1, 4}, // not consecutive: its own message
			},
		},
		{
			name:   "jsonl rows without event_id are never grouped",
			format: publish.FormatAuto,
			in:     "{\"email\":\"a@b.co\"}\n\n  {\"email\":\"a@b.co\",\"event_id\":null}\r\n{\"event_id\":\"\"}",
			want: []want{
				{`{"email":"a@b.co"}`, 1, 1},
				{`{"email":"a@b.co","event_id":null}`, 1, 3},
				{`{"event_id":""}`, 1, 4},
			},
		},
		{
			name:   "jsonl numeric and string ids group together",
			format: publish.FormatJSONL,
			in:     "{\"event_id\":42}\n{\"event_id\":\"42\"}\n",
			want:   []want{{`[{"event_id":42},{"event_id":"42"}]`, 2, 1}},
		},
		{
			name:   "jsonl malformed and array lines go as they are",
			format: publish.FormatJSONL,
			in: `{"event_id":"o-1"}
{"event_id":"o-1", broken
{"event_id":"o-1"}
[{"event_id":"x"},{"event_id":"y"}]
"just a string"
`,
			want: []want{
				{`{"event_id":"o-1"}`, 1, 1},
				{`{"event_id":"o-1", broken`, 1, 2},
				{`{"event_id":"o-1"}`, 1, 3},
				{`[{"event_id":"x"},{"event_id":"y"}]`, 2, 4},
				{`"just a string"`, 1, 5},
			},
		},
		{
			name:   "csv groups, omits empty cells, lower-cases the header",
			format: publish.FormatCSV,
			in: "Timestamp, Event_ID ,email,price,\n" +
				"1763980000,o-1,a@b.co,19.99,x\n" +
				"1763980000,o-1,,5,\n" +
				"1763980001,o-2,\"c,\"\"d\"\"@e.co\",,\n" +
				"1763980002,,f@g.co,1,\n",
			want: []want{
				{`[{"timestamp":"1763980000","event_id":"o-1","email":"a@b.co","price":"19.99"},{"timestamp":"1763980000","event_id":"o-1","price":"5"}]`, 2, 2},
				{`{"timestamp":"1763980001","event_id":"o-2","email":"c,\"d\"@e.co"}`, 1, 4},
				{`{"timestamp":"1763980002","email":"f@g.co","price":"1"}`, 1, 5},
			},
		},
		{
			name:   "csv sniffed, with a byte-order mark and control characters",
			format: publish.FormatAuto,
			in:     "\xEF\xBB\xBFevent_id,description\r\n1,\"tab\there\nnew line\"\r\n",
			want:   []want{{`{"event_id":"1","description":"tab\there\nnew line"}`, 1, 2}},
		},
		{
			name:   "csv header only",
			format: publish.FormatCSV,
			in:     "timestamp,email\n",
			want:   nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := publish.ReadAll(strings.NewReader(tt.in), tt.format)
			if err != nil {
				t.Fatal(err)
			}
			var gw []want
			for _, m := range got {
				gw = append(gw, want{string(m.Data), m.Rows, m.Line})
				if m.Data[0] == '{' || m.Data[0] == '[' {
					if strings.Contains(string(m.Data), "broken") {
						continue
					}
					if !json.Valid(m.Data) {
						t.Errorf("message %q is not valid JSON", m.Data)
					}
				}
			}
			if fmt.Sprintf("%+v", gw) != fmt.Sprintf("%+v", tt.want) {
				t.Errorf("messages =\n%+v\nwant\n%+v", gw, tt.want)
			}
		})
	}
}

// TestReadAllUnreadable: a record that cannot be read as rows is a message of its
// own, as it came, with an Err that names no value; the rows after it are read.
func TestReadAllUnreadable(t *testing.T) {
	tests := []struct {
		name   string
		format publish.Format
		in     string
		want   []want
		errs   []string // Err of each message
	}{
		{
			name:   "a ragged CSV record splits its group and is passed on as it came",
			format: publish.FormatCSV,
			in:     "event_id,x\n1,a\n1,b\n1,c,extra\n1,d\n",
			want: []want{
				{`[{"event_id":"1","x":"a"},{"event_id":"1","x":"b"}]`, 2, 2},
				{"1,c,extra\n", 1, 4},
				{`{"event_id":"1","x":"d"}`, 1, 5},
			},
			errs: []string{"", "the CSV record has 3 fields but the header has 2", ""},
		},
		{
			name:   "a short CSV record spanning lines",
			format: publish.FormatCSV,
			in:     "a,b,c\n\"x\ny\",2\n1,2,3\n",
			want:   []want{{"\"x\ny\",2\n", 1, 2}, {`{"a":"1","b":"2","c":"3"}`, 1, 4}},
			errs:   []string{"the CSV record has 2 fields but the header has 3", ""},
		},
		{
			name:   "a CSV record with a bare quote",
			format: publish.FormatCSV,
			in:     "a,b\n1,x\"y\n2,z\n",
			want:   []want{{"1,x\"y\n", 1, 2}, {`{"a":"2","b":"z"}`, 1, 3}},
			errs:   []string{"the CSV record cannot be parsed (check its quotes)", ""},
		},
		{
			name:   "an empty CSV input has no rows",
			format: publish.FormatCSV,
			in:     "",
		},
		{
			name:   "a column named twice is kept twice: the worker names it",
			format: publish.FormatCSV,
			in:     "email,Email\na@b.co,c@d.co\n",
			want:   []want{{`{"email":"a@b.co","email":"c@d.co"}`, 1, 2}},
			errs:   []string{""},
		},
		{
			name:   "a JSON array element that is not an object, and a broken array",
			format: publish.FormatJSON,
			in:     "[\n{\"event_id\":\"1\"},\n42,\n{\"event_id\":\"1\"},\n{\"event_id\":",
			want: []want{
				{`{"event_id":"1"}`, 1, 2},
				{`42`, 1, 3},
				{`{"event_id":"1"}`, 1, 4},
				{`{"event_id":`, 1, 5},
			},
			errs: []string{"", "the array element is not a JSON object", "", "the input is not valid JSON from here on; rows after this point were not read"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := publish.ReadAll(strings.NewReader(tt.in), tt.format)
			if err != nil {
				t.Fatal(err)
			}
			var gw []want
			var errs []string
			for _, m := range got {
				gw = append(gw, want{string(m.Data), m.Rows, m.Line})
				errs = append(errs, m.Err)
			}
			if fmt.Sprintf("%+v", gw) != fmt.Sprintf("%+v", tt.want) || fmt.Sprint(errs) != fmt.Sprint(tt.errs) {
				t.Errorf("messages =\n%+v %q\nwant\n%+v %q", gw, errs, tt.want, tt.errs)
			}
		})
	}
}

// TestReadJSONArray: a JSON array is read element by element, grouped like JSON
// Lines, each row at the line where it starts; the same rows as JSON Lines give the
// same messages.
func TestReadJSONArray(t *testing.T) {
	rows := []string{`{"event_id":"o-1","content_id":"a"}`, `{"Event_ID ":"o-1","content_id":"b"}`, `{"event_id":7}`, `{"event_id":"7"}`, `{"email":"x@y.co"}`}
	jsonl := strings.Join(rows, "\n") + "\n"
	array := "\ufeff[\n  " + strings.Join(rows, ",\n  ") + "\n]\n"
	a, err := publish.ReadAll(strings.NewReader(array), publish.FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	l, err := publish.ReadAll(strings.NewReader(jsonl), publish.FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 3 || len(l) != 3 {
		t.Fatalf("messages: array %d, lines %d; want 3 each", len(a), len(l))
	}
	for i := range a {
		if string(a[i].Data) != string(l[i].Data) || a[i].Rows != l[i].Rows {
			t.Errorf("message %d: array %s, lines %s", i, a[i].Data, l[i].Data)
		}
		for r := range a[i].Rows {
			if a[i].LineOf(r) != l[i].LineOf(r)+1 {
				t.Errorf("message %d row %d: array line %d, JSON Lines line %d", i, r, a[i].LineOf(r), l[i].LineOf(r))
			}
		}
	}
}

func TestFormats(t *testing.T) {
	for name, want := range map[string]publish.Format{
		"rows.csv": publish.FormatCSV, "ROWS.CSV": publish.FormatCSV, "a.jsonl": publish.FormatJSONL,
		"a.ndjson": publish.FormatJSONL, "a.json": publish.FormatJSON, "-": publish.FormatAuto, "rows.txt": publish.FormatAuto,
	} {
		if got := publish.FormatOf(name); got != want {
			t.Errorf("FormatOf(%q) = %q, want %q", name, got, want)
		}
	}
	for in, want := range map[string]publish.Format{"": publish.FormatAuto, "auto": publish.FormatAuto, "CSV": publish.FormatCSV, "ndjson": publish.FormatJSONL, "json": publish.FormatJSON} {
		if got, err := publish.ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := publish.ParseFormat("xml"); err == nil {
		t.Error("ParseFormat(xml) succeeded")
	}
}

func ExampleReadAll() {
	in := strings.NewReader(`timestamp,event_id,content_id,price,quantity
1763980000,o-1,sku-1,19.99,3
1763980000,o-1,sku-2,5,
1763980100,o-2,sku-3,1,1
`)
	msgs, err := publish.ReadAll(in, publish.FormatCSV)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	for _, m := range msgs {
		fmt.Printf("%d rows: %s\n", m.Rows, m.Data)
	}
	// Output:
	// 2 rows: [{"timestamp":"1763980000","event_id":"o-1","content_id":"sku-1","price":"19.99","quantity":"3"},{"timestamp":"1763980000","event_id":"o-1","content_id":"sku-2","price":"5"}]
	// 1 rows: {"timestamp":"1763980100","event_id":"o-2","content_id":"sku-3","price":"1","quantity":"1"}
}

// BenchmarkRead100k reads and groups 100,000 JSON Lines rows, without NATS: the
// reader's share of BenchmarkPublish100k.
func BenchmarkRead100k(b *testing.B) {
	var in strings.Builder
	for i := range 100_000 {
		fmt.Fprintf(&in, `{"timestamp":"2025-11-24T10:00:00Z","event":"Purchase","event_id":"o-%d","email":"user%d@example.com","phone":"+1 415 555 %04d","content_id":"sku-1","price":19.99,"quantity":3}`+"\n", i/2, i, i%10000)
	}
	data := in.String()
	b.SetBytes(int64(len(data)))
	for range b.N {
		msgs, err := publish.ReadAll(strings.NewReader(data), publish.FormatJSONL)
		if err != nil || len(msgs) != 50_000 {
			b.Fatalf("%d messages, %v", len(msgs), err)
		}
	}
}

// FuzzReader: whatever the input, in every format, the reader never fails or
// panics, lines only go forward, every message passed as rows is JSON, and one
// without data (a JSON array cut off with nothing after it) says why.
func FuzzReader(f *testing.F) {
	for _, seed := range []string{
		"{\"event_id\":\"1\"}\n{\"event_id\":1}\n[{\"a\":1}]\nnot json\n",
		"[\n{\"event_id\":\"1\"},\n42,\n{\"event_id\":\"1\"}\n]",
		"[{\"event_id\":\"x\\\"]\"}, {\"a\":[1,{\"b\":\"]\"}]}]",
		"a,b\n1,2\n1,2,3\n\"x,y\n",
		"\ufeff[]",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, format := range []publish.Format{publish.FormatAuto, publish.FormatCSV, publish.FormatJSONL, publish.FormatJSON} {
			msgs, err := publish.ReadAll(strings.NewReader(in), format)
			if err != nil && format != publish.FormatCSV && format != publish.FormatAuto {
				t.Fatalf("%s: %v", format, err) // only a CSV header can fail to read
			}
			line := 0
			for _, m := range msgs {
				if len(m.Data) == 0 && m.Err == "" {
					t.Fatalf("%s: a message of %d rows without data or a reason", format, m.Rows)
				}
				if m.Line < line {
					t.Fatalf("%s: line %d after line %d", format, m.Line, line)
				}
				line = m.Line
				if m.Err == "" && !json.Valid(m.Data) {
					t.Fatalf("%s: message %q passed as rows is not JSON", format, m.Data)
				}
			}
		}
	})
}
