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

func TestReadAllErrors(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"empty csv", "", "needs a header line"},
		{"duplicate column", "email,Email\n", `column "email" twice`},
		{"ragged record names its line", "a,b\n1,2\n1,2,3\n", "line 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := publish.ReadAll(strings.NewReader(tt.in), publish.FormatCSV)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// TestReadAllKeepsRowsBeforeAnError: the messages before a bad CSV record are
// returned, the pending group included, so the caller can publish or count them.
func TestReadAllKeepsRowsBeforeAnError(t *testing.T) {
	got, err := publish.ReadAll(strings.NewReader("event_id,x\n1,a\n1,b\n1,c,extra\n"), publish.FormatCSV)
	if err == nil {
		t.Fatal("no error for a ragged record")
	}
	if len(got) != 1 || got[0].Rows != 2 {
		t.Fatalf("got %+v, want the group of 2 rows read before the error", got)
	}
}

func TestFormats(t *testing.T) {
	for name, want := range map[string]publish.Format{
		"rows.csv": publish.FormatCSV, "ROWS.CSV": publish.FormatCSV, "a.jsonl": publish.FormatJSONL,
		"a.ndjson": publish.FormatJSONL, "-": publish.FormatAuto, "rows.txt": publish.FormatAuto,
	} {
		if got := publish.FormatOf(name); got != want {
			t.Errorf("FormatOf(%q) = %q, want %q", name, got, want)
		}
	}
	for in, want := range map[string]publish.Format{"": publish.FormatAuto, "auto": publish.FormatAuto, "CSV": publish.FormatCSV, "ndjson": publish.FormatJSONL} {
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
