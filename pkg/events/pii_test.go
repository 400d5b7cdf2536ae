package events

import (
	"strings"
	"testing"
)

// piiValues are the e-mail addresses and phone numbers of this package's test rows.
var piiValues = []string{
	"a@b.co", "c@d.co", "x@b.co", "ann@example.com", "Ann@Example.com", " Customer7@Example.com ",
	"4155552671", "(415) 555-2671", "+1 (415) 555-2671", "415-555-2671", "+1 415 555 0132",
	"020 7946 0958", "+44 20 7946 0958", "+14155552671", "555",
}

// baseRow returns a valid row for source, as a column → JSON value map.
func baseRow(source string) map[string]string {
	r := map[string]string{"timestamp": ts, "event_id": `"e1"`, "email": `"z@y.example"`, "content_id": `"sku"`, "price": `"1"`, "quantity": "1"}
	switch source {
	case SourceWeb:
		r["event"], r["page_url"] = `"Lead"`, `"https://shop.example/"`
	case SourceCRM:
		r["lead_id"] = `"L1"`
	}
	return r
}

func encodeRow(r map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for k, v := range r {
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(`"` + k + `":` + v)
	}
	b.WriteByte('}')
	return b.String()
}

// TestNoPIIInAnyError puts every test row's e-mail and phone into every column of the
// table, for every source, alone and as the second line item of an event (so the
// whole-event and contradiction messages are covered too), and as a column name. No
// reject's error or field, and no ignored column's name or reason, may contain them.
func TestNoPIIInAnyError(t *testing.T) {
	configs := map[string]Config{SourceWeb: web(), SourceOffline: offline(), SourceCRM: crm()}
	rejects := 0
	for _, source := range Sources() {
		tr := mustT(t, configs[source])
		for _, c := range Columns() {
			for _, v := range piiValues {
				q := strings.ReplaceAll(v, `"`, `\"`)
				alone := baseRow(source)
				alone[c.Name] = `"` + q + `"`
				second := baseRow(source)
				second["content_id"] = `"sku2"`
				second[c.Name] = `"` + q + `"`
				renamed := baseRow(source)
				renamed[v] = `"x"`
				msg := "[" + encodeRow(alone) + "," + encodeRow(baseRow(source)) + "," + encodeRow(second) + "," + encodeRow(renamed) + "]"
				var res Result
				if err := tr.Message([]byte(msg), &res); err != nil {
					t.Fatalf("%s: %v", msg, err)
				}
				checkAccounting(t, &res)
				rejects += len(res.Rejects)
				var texts []string
				for _, r := range res.Rejects {
					texts = append(texts, r.Err, r.Field)
				}
				for _, ig := range res.Ignored {
					texts = append(texts, ig.Name, ig.Why)
				}
				for _, text := range texts {
					for _, p := range piiValues {
						if p = strings.TrimSpace(p); len(p) > 3 && strings.Contains(strings.ToLower(text), strings.ToLower(p)) {
							t.Errorf("%s, column %s = %q: %q contains %q", source, c.Name, v, text, p)
						}
					}
				}
			}
		}
	}
	if rejects == 0 {
		t.Fatal("no rejects: the test would prove nothing")
	}
}

// TestQuotedOnlyWhenNotPersonal: an error quotes a value only of a Quotable column,
// and not even then when it looks like an e-mail address or a phone number.
func TestQuotedOnlyWhenNotPersonal(t *testing.T) {
	for _, tc := range []struct {
		c     col
		v     string
		quote bool
	}{
		{colCurrency, "EURO", true},
		{colContentType, "bundle", true},
		{colCurrency, "ann@example.com", false},
		{colPrice, "415 555 2671", false},
		{colPrice, "$5", true},
		{colEmail, "not-an-address", false},
		{colEvent, "StoreVisit", false},
		{colFirstName, "Ann", false},
		{colEventID, "o-1", false},
	} {
		got := quoted(tc.c, []byte(tc.v))
		if (got != "") != tc.quote {
			t.Errorf("quoted(%s, %q) = %q, want quoted: %v", tc.c.name(), tc.v, got, tc.quote)
		}
	}
	for _, c := range Columns() {
		if c.Quotable && (c.Hashed || c.Identity) {
			t.Errorf("%s is hashed or an identity but quotable", c.Name)
		}
	}
}
