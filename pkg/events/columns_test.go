package events

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated part of docs/columns.md")

const (
	docPath  = "../../docs/columns.md"
	docBegin = "<!-- generated from events.Columns() by TestColumnsDoc: go test ./pkg/events -run TestColumnsDoc -update -->"
	docEnd   = "<!-- end of generated part -->"
)

// columnsMarkdown renders the columns table and the per-source table.
func columnsMarkdown() string {
	var b strings.Builder
	b.WriteString("## Every column\n\n")
	b.WriteString("| column | goes to | web | offline | crm | rule | example |\n|---|---|---|---|---|---|---|\n")
	for _, c := range Columns() {
		rule := c.Rule
		if c.Identity {
			rule += " (an identity key)"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %s | %s | `%s` |\n", c.Name, c.Field, c.Web, c.Offline, c.CRM, rule, c.Example)
	}
	fmt.Fprintf(&b, "| (derived) | `properties.content_ids` | optional | optional | optional | the items' `content_id`s, in order, when any item has one | |\n")
	b.WriteString("\n## What each source takes\n\n")
	b.WriteString("| source | required | needs one of | also takes | drops |\n|---|---|---|---|---|\n")
	for _, src := range Sources() {
		var req, ids, opt, drop []string
		for _, c := range Columns() {
			name := "`" + c.Name + "`"
			switch u := c.Use(src); {
			case u == Required:
				req = append(req, name)
			case u == Dropped:
				drop = append(drop, name)
			case c.Identity:
				ids = append(ids, name)
			default:
				opt = append(opt, name)
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", src, strings.Join(req, ", "), strings.Join(ids, ", "), strings.Join(opt, ", "), orNone(drop))
	}
	var quotable []string
	for _, c := range Columns() {
		if c.Quotable {
			quotable = append(quotable, "`"+c.Name+"`")
		}
	}
	b.WriteString("\n## Values in errors\n\n")
	fmt.Fprintf(&b, "An error names the column and repeats a value only of these columns, whose values are not personal, and only when the value looks like neither an e-mail address nor a phone number: %s.\n", strings.Join(quotable, ", "))
	return b.String()
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}

// TestColumnsDoc keeps docs/columns.md in step with the table: its generated part is
// exactly what the table renders, and its column list names exactly the table's
// columns. Run with -update after changing the table.
func TestColumnsDoc(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	i, j := strings.Index(text, docBegin), strings.Index(text, docEnd)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the generated part's markers %q … %q", docPath, docBegin, docEnd)
	}
	want := columnsMarkdown()
	got := strings.TrimSpace(text[i+len(docBegin) : j])
	if *update {
		text = text[:i+len(docBegin)] + "\n\n" + want + "\n" + text[j:]
		if err := os.WriteFile(docPath, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got != strings.TrimSpace(want) {
		t.Errorf("%s is out of date with events.Columns(); run go test ./pkg/events -run TestColumnsDoc -update", docPath)
	}
	// Independently of the rendering: the page's rows name exactly the columns.
	var listed []string
	section := text[strings.Index(text, "## Every column"):strings.Index(text, "## What each source takes")]
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| `").FindAllStringSubmatch(section, -1) {
		listed = append(listed, m[1])
	}
	var names []string
	for _, c := range Columns() {
		names = append(names, c.Name)
	}
	if !slices.Equal(listed, names) {
		t.Errorf("%s lists columns %v, the table has %v", docPath, listed, names)
	}
}

// TestColumnsTable: every column is complete and found by name; each source requires
// a timestamp and can identify a person; the table says what SPEC §3 says for the
// source-specific columns.
func TestColumnsTable(t *testing.T) {
	for _, c := range Columns() {
		if c.Name == "" || c.Field == "" || c.Rule == "" || c.Example == "" {
			t.Errorf("incomplete column %+v", c)
		}
		got, ok := LookupColumn(" " + strings.ToUpper(c.Name) + " ")
		if !ok || got.Name != c.Name {
			t.Errorf("LookupColumn(%s) = %+v, %v", c.Name, got, ok)
		}
	}
	if _, ok := LookupColumn("favourite_colour"); ok {
		t.Error("an unknown column was found")
	}
	uses := func(name string) [3]Use {
		c, _ := LookupColumn(name)
		return [3]Use{c.Web, c.Offline, c.CRM}
	}
	for _, tc := range []struct {
		name string
		want [3]Use // web, offline, crm
	}{
		{"timestamp", [3]Use{Required, Required, Required}},
		{"email", [3]Use{Optional, Optional, Optional}},
		{"external_id", [3]Use{Optional, Dropped, Optional}},
		{"first_name", [3]Use{Optional, Dropped, Optional}},
		{"zip_code", [3]Use{Optional, Dropped, Optional}},
		{"lead_id", [3]Use{Dropped, Dropped, Required}},
		{"lead_event_source", [3]Use{Dropped, Dropped, Optional}},
		{"page_url", [3]Use{Required, Dropped, Dropped}},
		{"ip", [3]Use{Optional, Dropped, Dropped}},
		{"limited_data_use", [3]Use{Optional, Dropped, Dropped}},
		{"value", [3]Use{Optional, Optional, Optional}},
		{"search_string", [3]Use{Optional, Optional, Optional}},
	} {
		if got := uses(tc.name); got != tc.want {
			t.Errorf("%s: uses %v, want %v", tc.name, got, tc.want)
		}
	}
	// The returned table is a copy.
	cols := Columns()
	cols[0].Name = "changed"
	if Columns()[0].Name != "timestamp" {
		t.Error("Columns returned the table itself")
	}
}

// TestMatchKeyNames: the names are in bit order and each names the user key its
// bit marks in an event.
func TestMatchKeyNames(t *testing.T) {
	names := MatchKeyNames()
	if len(names) != numMatchKeys {
		t.Fatalf("%d names for %d keys", len(names), numMatchKeys)
	}
	res := run(t, web(), `[{"timestamp":`+ts+`,"event":"Lead","email":"a@b.co","phone":"4155552671","external_id":"u","ip":"1.1.1.1","agent":"UA","cookie_id":"c","tiktok_click_id":"k",
	 "first_name":"A","last_name":"B","city":"C","state":"NY","country":"US","zip_code":"10001","page_url":"https://x.example/"}]`)
	if len(res.Events) != 1 {
		t.Fatalf("%+v", res.Rejects)
	}
	ev := res.Events[0]
	for i, name := range names {
		bit := MatchKeys(1) << i
		if !ev.Keys.Has(bit) {
			t.Errorf("key %s (bit %d) not set", name, i)
		}
		if !strings.Contains(string(ev.JSON), `"`+name+`":`) {
			t.Errorf("key %s not in the event %s", name, ev.JSON)
		}
	}
	names[0] = "changed"
	if MatchKeyNames()[0] != "email" {
		t.Error("MatchKeyNames returned the table itself")
	}
}
