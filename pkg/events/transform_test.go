package events

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

// now is the injected clock of every test: 2025-11-24T12:00:00Z.
var now = time.Date(2025, 11, 24, 12, 0, 0, 0, time.UTC)

const ts = "1763980000" // 2025-11-24T10:26:40Z, inside the window of now

func clock() time.Time { return now }

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// expand replaces {sha:x} with the SHA-256 hex of x, so expectations stay readable.
func expand(s string) string {
	return regexp.MustCompile(`\{sha:([^}]*)\}`).ReplaceAllStringFunc(s, func(m string) string {
		return sha(m[5 : len(m)-1])
	})
}

func offline() Config {
	return Config{EventSource: SourceOffline, FixedEventName: "Purchase", Now: clock}
}
func web() Config {
	return Config{EventSource: SourceWeb, Now: clock}
}
func crm() Config {
	return Config{EventSource: SourceCRM, FixedEventName: "Lead", Now: clock}
}

func mustT(t testing.TB, cfg Config) *Transformer {
	t.Helper()
	tr, err := NewTransformer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func run(t testing.TB, cfg Config, msg string) *Result {
	t.Helper()
	var res Result
	if err := mustT(t, cfg).Message([]byte(msg), &res); err != nil {
		t.Fatalf("Message(%s): %v", msg, err)
	}
	checkAccounting(t, &res)
	return &res
}

// checkAccounting asserts the invariant every caller relies on: each row index is in
// exactly one of Events[].Rows, Rejects and Duplicates, and every event is valid JSON.
func checkAccounting(t testing.TB, res *Result) {
	t.Helper()
	seen := make([]int, res.Rows)
	mark := func(i int) {
		if i < 0 || i >= res.Rows {
			t.Fatalf("row index %d out of range (rows %d)", i, res.Rows)
		}
		seen[i]++
	}
	for _, ev := range res.Events {
		if len(ev.Rows) == 0 {
			t.Fatalf("event %s has no rows", ev.ID)
		}
		for _, r := range ev.Rows {
			mark(r)
		}
		if !json.Valid(ev.JSON) {
			t.Fatalf("event is not valid JSON: %s", ev.JSON)
		}
	}
	for _, r := range res.Rejects {
		mark(r.Row)
	}
	for _, r := range res.Duplicates {
		mark(r)
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("row %d accounted for %d times: %+v", i, n, res)
		}
	}
}

// TestRules covers each rule of SPEC §3: a row either becomes exactly the expected
// event JSON or is rejected with the expected reason and field.
func TestRules(t *testing.T) {
	const page = `"page_url":"https://shop.example/p"`
	tests := []struct {
		name   string
		cfg    Config
		row    string
		want   string // exact event JSON ({sha:x} expanded), or
		reason Reason // the reject
		field  string
	}{
		// timestamp
		{name: "timestamp missing", cfg: offline(), row: `{"email":"a@b.co"}`, reason: ReasonInvalidRow, field: "timestamp"},
		{name: "timestamp bad", cfg: offline(), row: `{"timestamp":"yesterday","email":"a@b.co"}`, reason: ReasonInvalidRow, field: "timestamp"},
		{name: "timestamp ISO with zone", cfg: offline(), row: `{"timestamp":"2025-11-24T11:26:40+01:00","event_id":"e","email":"a@b.co"}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"}}`},
		{name: "timestamp ISO without zone is UTC", cfg: offline(), row: `{"timestamp":"2025-11-24T10:26:40","event_id":"e","email":"a@b.co"}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"}}`},
		{name: "timestamp unix ms number", cfg: offline(), row: `{"timestamp":1763980000123,"event_id":"e","email":"a@b.co"}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"}}`},
		{name: "timestamp unix s string", cfg: offline(), row: `{"timestamp":"1763980000","event_id":"e","email":"a@b.co"}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"}}`},
		// event
		{name: "event from row", cfg: offline(), row: `{"timestamp":` + ts + `,"event":"Lead","event_id":"e","email":"a@b.co"}`,
			want: `{"event":"Lead","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"}}`},
		{name: "legacy event offline", cfg: offline(), row: `{"timestamp":` + ts + `,"event":"CompletePayment","event_id":"e","email":"a@b.co"}`,
			want: `{"event":"CompletePayment","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"}}`},
		{name: "event missing, no fixed name", cfg: Config{EventSource: SourceOffline, Now: clock}, row: `{"timestamp":` + ts + `,"email":"a@b.co"}`, reason: ReasonInvalidRow, field: "event"},
		{name: "event case mismatch offline", cfg: offline(), row: `{"timestamp":` + ts + `,"event":"purchase","email":"a@b.co"}`, reason: ReasonInvalidRow, field: "event"},
		{name: "custom event offline", cfg: offline(), row: `{"timestamp":` + ts + `,"event":"StoreVisit","email":"a@b.co"}`, reason: ReasonInvalidRow, field: "event"},
		{name: "custom event web", cfg: web(), row: `{"timestamp":` + ts + `,"event":"StoreVisit","event_id":"e","email":"a@b.co",` + page + `}`,
			want: `{"event":"StoreVisit","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"},"page":{"url":"https://shop.example/p"}}`},
		{name: "event case mismatch web", cfg: web(), row: `{"timestamp":` + ts + `,"event":"ADDTOCART","email":"a@b.co",` + page + `}`, reason: ReasonInvalidRow, field: "event"},
		// event_id
		{name: "event_id number keeps its text", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":123,"email":"a@b.co"}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"123","user":{"email":"{sha:a@b.co}"}}`},
		{name: "event_id 64 chars", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"` + strings.Repeat("x", 64) + `","email":"a@b.co"}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"` + strings.Repeat("x", 64) + `","user":{"email":"{sha:a@b.co}"}}`},
		{name: "event_id 65 chars", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"` + strings.Repeat("x", 65) + `","email":"a@b.co"}`, reason: ReasonInvalidRow, field: "event_id"},
		{name: "event_id generated", cfg: offline(), row: `{"timestamp":` + ts + `,"email":"a@b.co","phone":"+1 (415) 555-2671"}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"` + sha(sha("a@b.co") + "|" + sha("+14155552671") + "|Purchase|1763980000")[:36] + `","user":{"email":"{sha:a@b.co}","phone":"{sha:+14155552671}"}}`},
		// email and phone
		{name: "email normalized", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"e","email":"  Ann@Example.COM "}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:ann@example.com}"}}`},
		{name: "email already hashed", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"e","email":"{sha:x@y.z}"}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:x@y.z}"}}`},
		{name: "email invalid", cfg: offline(), row: `{"timestamp":` + ts + `,"email":"ann.example.com"}`, reason: ReasonInvalidRow, field: "email"},
		{name: "phone NANP", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"e","phone":"(415) 555-2671"}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"phone":"{sha:+14155552671}"}}`},
		{name: "phone region GB", cfg: Config{EventSource: SourceOffline, FixedEventName: "Purchase", PhoneRegion: "GB", Now: clock}, row: `{"timestamp":` + ts + `,"event_id":"e","phone":"020 7946 0958"}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"phone":"{sha:+442079460958}"}}`},
		{name: "phone impossible", cfg: offline(), row: `{"timestamp":` + ts + `,"phone":"555"}`, reason: ReasonInvalidRow, field: "phone"},
		{name: "phone already hashed", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"e","phone":"{sha:+14155552671}"}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"phone":"{sha:+14155552671}"}}`},
		// identity
		{name: "offline needs email or phone", cfg: offline(), row: `{"timestamp":` + ts + `,"order_id":"o"}`, reason: ReasonInvalidRow, field: "email"},
		{name: "offline drops external_id", cfg: offline(), row: `{"timestamp":` + ts + `,"external_id":"u1"}`, reason: ReasonInvalidRow, field: "email"},
		{name: "web external_id only", cfg: web(), row: `{"timestamp":` + ts + `,"event":"ViewContent","event_id":"e","external_id":" u1 ",` + page + `}`,
			want: `{"event":"ViewContent","event_time":1763980000,"event_id":"e","user":{"external_id":"{sha:u1}"},"page":{"url":"https://shop.example/p"}}`},
		{name: "web needs an identity", cfg: web(), row: `{"timestamp":` + ts + `,"event":"ViewContent","ip":"1.2.3.4",` + page + `}`, reason: ReasonInvalidRow, field: "email"},
		// web columns
		{name: "web user columns", cfg: web(), row: `{"timestamp":` + ts + `,"event":"ViewContent","event_id":"e","email":"a@b.co","ip":"2001:db8::1","agent":"Mozilla/5.0 \"x\"","cookie_id":"c1","tiktok_click_id":"k1","locale":"en-US","page_url":"https://shop.example/p","referrer_url":"https://t.example/"}`,
			want: `{"event":"ViewContent","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}","ip":"2001:db8::1","user_agent":"Mozilla/5.0 \"x\"","ttp":"c1","ttclid":"k1","locale":"en-US"},"page":{"url":"https://shop.example/p","referrer":"https://t.example/"}}`},
		{name: "web limited data use", cfg: Config{EventSource: SourceWeb, LimitedDataUse: true, Now: clock}, row: `{"timestamp":` + ts + `,"event":"Lead","event_id":"e","email":"a@b.co",` + page + `}`,
			want: `{"event":"Lead","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"},"page":{"url":"https://shop.example/p"},"limited_data_use":true}`},
		{name: "offline ignores limited data use", cfg: Config{EventSource: SourceOffline, FixedEventName: "Purchase", LimitedDataUse: true, Now: clock}, row: `{"timestamp":` + ts + `,"event_id":"e","email":"a@b.co"}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"}}`},
		{name: "offline drops web columns", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"e","email":"a@b.co","ip":"bad","page_url":"x","cookie_id":"c"}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"}}`},
		{name: "ip invalid", cfg: web(), row: `{"timestamp":` + ts + `,"event":"Lead","email":"a@b.co","ip":"1.2.3",` + page + `}`, reason: ReasonInvalidRow, field: "ip"},
		{name: "page_url missing", cfg: web(), row: `{"timestamp":` + ts + `,"event":"Lead","email":"a@b.co"}`, reason: ReasonInvalidRow, field: "page_url"},
		{name: "page_url relative", cfg: web(), row: `{"timestamp":` + ts + `,"event":"Lead","email":"a@b.co","page_url":"/p"}`, reason: ReasonInvalidRow, field: "page_url"},
		{name: "page_url not http", cfg: web(), row: `{"timestamp":` + ts + `,"event":"Lead","email":"a@b.co","page_url":"ftp://x.example/"}`, reason: ReasonInvalidRow, field: "page_url"},
		// properties
		{name: "contents, defaults and exact value", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"e","email":"a@b.co","content_id":"sku-1","content_name":"Tee","content_category":"shirts","brand":"B","price":"19.99","quantity":3}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"},"properties":{"contents":[{"content_id":"sku-1","content_name":"Tee","content_category":"shirts","brand":"B","price":19.99,"quantity":3}],"content_ids":["sku-1"],"content_type":"product","currency":"USD","value":59.97}}`},
		{name: "price without quantity has no value", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"e","email":"a@b.co","price":5}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"},"properties":{"contents":[{"price":5}],"content_type":"product","currency":"USD"}}`},
		{name: "value column without items", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"e","email":"a@b.co","value":"1000.50"}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"},"properties":{"content_type":"product","currency":"USD","value":1000.5}}`},
		{name: "properties without contents get no defaults", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"e","email":"a@b.co","order_id":"o-1","shop_id":"s","description":"d"}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"},"properties":{"description":"d","order_id":"o-1","shop_id":"s"}}`},
		{name: "currency upper-cased, content_type kept", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"e","email":"a@b.co","currency":"eur","content_type":"Product_Group","content_id":"g"}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"},"properties":{"contents":[{"content_id":"g"}],"content_ids":["g"],"content_type":"product_group","currency":"EUR"}}`},
		{name: "currency bad", cfg: offline(), row: `{"timestamp":` + ts + `,"email":"a@b.co","currency":"EURO"}`, reason: ReasonInvalidRow, field: "currency"},
		{name: "content_type bad", cfg: offline(), row: `{"timestamp":` + ts + `,"email":"a@b.co","content_type":"sku"}`, reason: ReasonInvalidRow, field: "content_type"},
		{name: "price negative", cfg: offline(), row: `{"timestamp":` + ts + `,"email":"a@b.co","price":-1}`, reason: ReasonInvalidRow, field: "price"},
		{name: "price not a number", cfg: offline(), row: `{"timestamp":` + ts + `,"email":"a@b.co","price":"ten"}`, reason: ReasonInvalidRow, field: "price"},
		{name: "quantity fractional", cfg: offline(), row: `{"timestamp":` + ts + `,"email":"a@b.co","quantity":1.5}`, reason: ReasonInvalidRow, field: "quantity"},
		{name: "quantity negative", cfg: offline(), row: `{"timestamp":` + ts + `,"email":"a@b.co","quantity":"-2"}`, reason: ReasonInvalidRow, field: "quantity"},
		// upper-case hex is already hashed: sent lower-cased
		{name: "upper-case digests pass through lower-cased", cfg: web(), row: `{"timestamp":` + ts + `,"event":"Lead","event_id":"e","email":"` + strings.ToUpper(sha("x@y.z")) + `","phone":"` + strings.ToUpper(sha("+14155552671")) + `","external_id":"` + strings.ToUpper(sha("u1")) + `","first_name":"` + strings.ToUpper(sha("ann")) + `","zip_code":"` + strings.ToUpper(sha("94107")) + `",` + page + `}`,
			want: `{"event":"Lead","event_time":1763980000,"event_id":"e","user":{"email":"{sha:x@y.z}","phone":"{sha:+14155552671}","external_id":"{sha:u1}","first_name":"{sha:ann}","zip_code":"{sha:94107}"},"page":{"url":"https://shop.example/p"}}`},
		// advanced matching
		{name: "advanced matching web", cfg: web(), row: `{"timestamp":` + ts + `,"event":"Lead","event_id":"e","email":"a@b.co","first_name":" Ann ","last_name":"SMITH","city":"San  Francisco","state":"California","country":"us","zip_code":"94107-1234",` + page + `}`,
			want: `{"event":"Lead","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}","first_name":"{sha:ann}","last_name":"{sha:smith}","city":"{sha:san francisco}","state":"{sha:ca}","country":"{sha:us}","zip_code":"{sha:94107}"},"page":{"url":"https://shop.example/p"}}`},
		{name: "advanced matching crm, non-US address", cfg: crm(), row: `{"timestamp":` + ts + `,"event_id":"e","phone":"+44 20 7946 0958","lead_id":"L1","city":"London","state":"Greater London","country":"GBR","zip_code":"SW1A 1AA"}`,
			want: `{"event":"Lead","event_time":1763980000,"event_id":"e","user":{"phone":"{sha:+442079460958}","city":"{sha:london}","state":"{sha:greater london}","country":"{sha:gb}","zip_code":"{sha:sw1a1aa}"},"lead":{"lead_id":"L1"}}`},
		{name: "advanced matching dropped offline", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"e","email":"a@b.co","first_name":"Ann","state":"nowhere","country":"XX"}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"}}`},
		{name: "advanced keys are not an identity", cfg: web(), row: `{"timestamp":` + ts + `,"event":"Lead","first_name":"Ann","last_name":"Smith",` + page + `}`, reason: ReasonInvalidRow, field: "email"},
		{name: "country unknown", cfg: web(), row: `{"timestamp":` + ts + `,"event":"Lead","email":"a@b.co","country":"EU",` + page + `}`, reason: ReasonInvalidRow, field: "country"},
		{name: "US state unknown", cfg: web(), row: `{"timestamp":` + ts + `,"event":"Lead","email":"a@b.co","state":"Bavaria","country":"US",` + page + `}`, reason: ReasonInvalidRow, field: "state"},
		{name: "CA province by name", cfg: web(), row: `{"timestamp":` + ts + `,"event":"Lead","event_id":"e","email":"a@b.co","state":"Québec","country":"CA",` + page + `}`,
			want: `{"event":"Lead","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}","state":"{sha:qc}","country":"{sha:ca}"},"page":{"url":"https://shop.example/p"}}`},
		{name: "US zip invalid", cfg: web(), row: `{"timestamp":` + ts + `,"event":"Lead","email":"a@b.co","zip_code":"9410","country":"US",` + page + `}`, reason: ReasonInvalidRow, field: "zip_code"},
		{name: "first_name blank after trim", cfg: web(), row: `{"timestamp":` + ts + `,"event":"Lead","email":"a@b.co","first_name":"   ",` + page + `}`, reason: ReasonInvalidRow, field: "first_name"},
		// crm
		{name: "crm lead", cfg: crm(), row: `{"timestamp":` + ts + `,"event_id":"e","email":"a@b.co","lead_id":"7305129398742720514","lead_event_source":"HubSpot","value":250,"currency":"eur"}`,
			want: `{"event":"Lead","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"},"properties":{"content_type":"product","currency":"EUR","value":250},"lead":{"lead_id":"7305129398742720514","lead_event_source":"HubSpot"}}`},
		{name: "crm external_id is an identity", cfg: crm(), row: `{"timestamp":` + ts + `,"event_id":"e","external_id":"u1","lead_id":"L1"}`,
			want: `{"event":"Lead","event_time":1763980000,"event_id":"e","user":{"external_id":"{sha:u1}"},"lead":{"lead_id":"L1"}}`},
		{name: "crm lead_id required", cfg: crm(), row: `{"timestamp":` + ts + `,"email":"a@b.co","lead_event_source":"HubSpot"}`, reason: ReasonInvalidRow, field: "lead_id"},
		{name: "crm needs an identity", cfg: crm(), row: `{"timestamp":` + ts + `,"lead_id":"L1"}`, reason: ReasonInvalidRow, field: "email"},
		{name: "crm standard names only", cfg: crm(), row: `{"timestamp":` + ts + `,"event":"Qualified","email":"a@b.co","lead_id":"L1"}`, reason: ReasonInvalidRow, field: "event"},
		{name: "crm drops web columns", cfg: crm(), row: `{"timestamp":` + ts + `,"event_id":"e","email":"a@b.co","lead_id":"L1","ip":"bad","page_url":"/x","limited_data_use":"maybe"}`,
			want: `{"event":"Lead","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"},"lead":{"lead_id":"L1"}}`},
		{name: "web drops lead columns", cfg: web(), row: `{"timestamp":` + ts + `,"event":"Lead","event_id":"e","email":"a@b.co","lead_id":"L1",` + page + `}`,
			want: `{"event":"Lead","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"},"page":{"url":"https://shop.example/p"}}`},
		// more properties
		{name: "search_string", cfg: web(), row: `{"timestamp":` + ts + `,"event":"Search","event_id":"e","email":"a@b.co","search_string":"red \"tee\"",` + page + `}`,
			want: `{"event":"Search","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"},"properties":{"search_string":"red \"tee\""},"page":{"url":"https://shop.example/p"}}`},
		{name: "explicit value equal to the items' sum", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"e","email":"a@b.co","price":"19.99","quantity":3,"value":"59.970"}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"},"properties":{"contents":[{"price":19.99,"quantity":3}],"content_type":"product","currency":"USD","value":59.97}}`},
		{name: "explicit value contradicting the items' sum", cfg: offline(), row: `{"timestamp":` + ts + `,"email":"a@b.co","price":"19.99","quantity":3,"value":60}`, reason: ReasonInvalidRow, field: "value"},
		{name: "value with unpriced items", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"e","email":"a@b.co","content_id":"plan-1","value":9.99}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"},"properties":{"contents":[{"content_id":"plan-1"}],"content_ids":["plan-1"],"content_type":"product","currency":"USD","value":9.99}}`},
		{name: "value negative", cfg: offline(), row: `{"timestamp":` + ts + `,"email":"a@b.co","value":-1}`, reason: ReasonInvalidRow, field: "value"},
		{name: "limited_data_use true overrides an off destination", cfg: web(), row: `{"timestamp":` + ts + `,"event":"Lead","event_id":"e","email":"a@b.co","limited_data_use":true,` + page + `}`,
			want: `{"event":"Lead","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"},"page":{"url":"https://shop.example/p"},"limited_data_use":true}`},
		{name: "limited_data_use false overrides an on destination", cfg: Config{EventSource: SourceWeb, LimitedDataUse: true, Now: clock}, row: `{"timestamp":` + ts + `,"event":"Lead","event_id":"e","email":"a@b.co","limited_data_use":"FALSE",` + page + `}`,
			want: `{"event":"Lead","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"},"page":{"url":"https://shop.example/p"}}`},
		{name: "limited_data_use invalid", cfg: web(), row: `{"timestamp":` + ts + `,"event":"Lead","email":"a@b.co","limited_data_use":"yes",` + page + `}`, reason: ReasonInvalidRow, field: "limited_data_use"},
		{name: "limited_data_use dropped offline", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"e","email":"a@b.co","limited_data_use":true}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"}}`},
		{name: "currency unknown", cfg: offline(), row: `{"timestamp":` + ts + `,"email":"a@b.co","currency":"ABC"}`, reason: ReasonInvalidRow, field: "currency"},
		{name: "currency placeholder", cfg: offline(), row: `{"timestamp":` + ts + `,"email":"a@b.co","currency":"XXX"}`, reason: ReasonInvalidRow, field: "currency"},
		{name: "currency trimmed", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"e","email":"a@b.co","currency":" jpy ","value":100}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"},"properties":{"content_type":"product","currency":"JPY","value":100}}`},
		// decoding
		{name: "null and empty are absent", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"e","email":"a@b.co","phone":null,"order_id":"","brand":null}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"}}`},
		{name: "booleans keep their text", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"e","email":"a@b.co","description":true}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"},"properties":{"description":"true"}}`},
		{name: "keys match ignoring case", cfg: offline(), row: `{"Timestamp":` + ts + `,"EVENT_ID":"e","Email":"a@b.co"}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"}}`},
		{name: "escapes decoded and re-encoded", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"e\u00e9","email":"a@b.co","content_name":"caf\u00e9 \ud83d\ude00 \"q\" \\ \n\u0001 \ud800"}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"eé","user":{"email":"{sha:a@b.co}"},"properties":{"contents":[{"content_name":"café 😀 \"q\" \\ \n\u0001 ` + "\ufffd" + `"}],"content_type":"product","currency":"USD"}}`},
		{name: "nested value", cfg: offline(), row: `{"timestamp":` + ts + `,"email":"a@b.co","content_id":{"a":[1,2]}}`, reason: ReasonInvalidRow, field: "content_id"},
		{name: "nested value in unknown column is ignored", cfg: offline(), row: `{"timestamp":` + ts + `,"event_id":"e","email":"a@b.co","meta":{"a":[1,{"b":2}]}}`,
			want: `{"event":"Purchase","event_time":1763980000,"event_id":"e","user":{"email":"{sha:a@b.co}"}}`},
		{name: "repeated column", cfg: offline(), row: `{"timestamp":` + ts + `,"email":"a@b.co","Email":"c@d.co"}`, reason: ReasonInvalidRow, field: "email"},
		// window
		{name: "outside window", cfg: offline(), row: `{"timestamp":"2025-10-01T00:00:00Z","email":"a@b.co"}`, reason: ReasonOutsideWindow, field: "timestamp"},
		{name: "future", cfg: offline(), row: `{"timestamp":"2025-11-24T12:10:01Z","email":"a@b.co"}`, reason: ReasonFutureTimestamp, field: "timestamp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, tc.cfg, expand(tc.row))
			if tc.want != "" {
				if len(res.Events) != 1 {
					t.Fatalf("want one event, got %d; rejects %+v", len(res.Events), res.Rejects)
				}
				if got, want := string(res.Events[0].JSON), expand(tc.want); got != want {
					t.Errorf("event JSON\n got %s\nwant %s", got, want)
				}
				return
			}
			if len(res.Rejects) != 1 {
				t.Fatalf("want one reject, got %+v (events %d)", res.Rejects, len(res.Events))
			}
			r := res.Rejects[0]
			if r.Reason != tc.reason || r.Field != tc.field {
				t.Errorf("reject = %s/%s (%s), want %s/%s", r.Reason, r.Field, r.Err, tc.reason, tc.field)
			}
			if !strings.HasPrefix(r.Err, r.Field+": ") {
				t.Errorf("error %q does not start with the field name", r.Err)
			}
		})
	}
}

func TestCaseMismatchGivesSpelling(t *testing.T) {
	res := run(t, web(), `{"timestamp":`+ts+`,"event":"addtocart","email":"a@b.co","page_url":"https://x.example/"}`)
	want := `event: is not a TikTok event name as written; did you mean "AddToCart"? (event names are case-sensitive)`
	if len(res.Rejects) != 1 || res.Rejects[0].Err != want {
		t.Fatalf("rejects = %+v, want %q", res.Rejects, want)
	}
}

func TestIgnoredColumnsReportedOnce(t *testing.T) {
	tr := mustT(t, offline())
	var res Result
	msg := `[{"timestamp":` + ts + `,"email":"a@b.co","favourite_colour":"red","ip":"1.2.3.4","first_name":"Ann"},
	         {"timestamp":` + ts + `,"email":"c@b.co","favourite_colour":"blue"}]`
	if err := tr.Message([]byte(msg), &res); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, ig := range res.Ignored {
		if got[ig.Name] {
			t.Errorf("%s reported twice", ig.Name)
		}
		got[ig.Name] = true
		if strings.Contains(ig.Why, "red") || strings.Contains(ig.Why, "1.2.3.4") {
			t.Errorf("a value leaked into %q", ig.Why)
		}
	}
	for _, name := range []string{"favourite_colour", "ip", "first_name"} {
		if !got[name] {
			t.Errorf("%s not reported; got %+v", name, res.Ignored)
		}
	}
	if err := tr.Message([]byte(msg), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Ignored) != 0 {
		t.Errorf("second message re-reported %+v", res.Ignored)
	}
}

func TestMalformedMessages(t *testing.T) {
	for _, msg := range []string{``, ` `, `"row"`, `42`, `[1,2]`, `[{"timestamp":1},3]`, `{"timestamp":`, `{"a":1}{"b":2}`,
		`[{"a":1}`, `[{"a":1},]`, `{"a" 1}`, `{"a":"\x"}`, `{"a":tru}`, "{\"a\":\"\x01\"}", `[{"a":[1,2}]`} {
		tr := mustT(t, offline())
		var res Result
		err := tr.Message([]byte(msg), &res)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("Message(%q) = %v, want ErrMalformed", msg, err)
		}
		if res.Rows != 0 || len(res.Events) != 0 || len(res.Rejects) != 0 {
			t.Errorf("Message(%q) left %+v", msg, res)
		}
	}
	// An empty array is a message of no rows, not a malformed one.
	res := run(t, offline(), ` [ ] `)
	if res.Rows != 0 {
		t.Errorf("rows = %d", res.Rows)
	}
}

func TestNewTransformerNamesTheSetting(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		name string
	}{
		{Config{EventSource: "app"}, "event_source"},
		{Config{EventSource: SourceWeb, Window: 29 * 24 * time.Hour}, "window"},
		{Config{EventSource: SourceWeb, Window: -time.Hour}, "window"},
		{Config{EventSource: SourceWeb, PhoneRegion: "XX"}, "phone_region"},
		{Config{EventSource: SourceOffline, FixedEventName: "Visit"}, "fixed_event_name"},
		{Config{EventSource: SourceWeb, FixedEventName: "purchase"}, "fixed_event_name"},
	} {
		_, err := NewTransformer(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("NewTransformer(%+v) = %v, want an error naming %s", tc.cfg, err, tc.name)
		}
	}
	if _, err := NewTransformer(Config{EventSource: SourceWeb, FixedEventName: "MyCustomEvent"}); err != nil {
		t.Errorf("custom fixed name on web: %v", err)
	}
}

func TestWindow(t *testing.T) {
	day := int64(86400)
	n := now.Unix()
	for _, tc := range []struct {
		name   string
		window time.Duration
		at     int64
		want   Reason // "" = sent
	}{
		{"exactly 28 days old", 0, n - 28*day, ""},
		{"one second older", 0, n - 28*day - 1, ReasonOutsideWindow},
		{"ten minutes ahead", 0, n + 600, ""},
		{"ten minutes and a second ahead", 0, n + 601, ReasonFutureTimestamp},
		{"1h window, 59 minutes old", time.Hour, n - 3540, ""},
		{"1h window, 2 hours old", time.Hour, n - 7200, ReasonOutsideWindow},
		{"millisecond timestamp, old", 0, (n - 29*day) * 1000, ReasonOutsideWindow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := offline()
			cfg.Window = tc.window
			res := run(t, cfg, `{"timestamp":`+itoa(tc.at)+`,"email":"a@b.co"}`)
			switch {
			case tc.want == "" && len(res.Events) != 1:
				t.Errorf("want sent, got %+v", res.Rejects)
			case tc.want != "" && (len(res.Rejects) != 1 || res.Rejects[0].Reason != tc.want):
				t.Errorf("want %s, got %+v", tc.want, res.Rejects)
			}
		})
	}
	// The clock is read at each message: the same row ages out when time moves on.
	clockNow := now
	cfg := offline()
	cfg.Now = func() time.Time { return clockNow }
	tr := mustT(t, cfg)
	row := []byte(`{"timestamp":` + ts + `,"email":"a@b.co"}`)
	var res Result
	_ = tr.Message(row, &res)
	if len(res.Events) != 1 {
		t.Fatal("fresh row not sent")
	}
	clockNow = clockNow.Add(29 * 24 * time.Hour)
	_ = tr.Message(row, &res)
	if len(res.Rejects) != 1 || res.Rejects[0].Reason != ReasonOutsideWindow {
		t.Fatalf("aged row: %+v", res.Rejects)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestNoPIIInErrors feeds invalid and valid PII in every identity column and checks
// that no reject message contains any of the raw values.
func TestNoPIIInErrors(t *testing.T) {
	pii := []string{"jane.doe.example.com", "jane@doe@example.com", "5551234", "+999 12", "(415) 555-2671x", "ext-secret-42", "ann@example.com", "4155552671"}
	var rows []string
	for _, cfg := range []Config{offline(), web()} {
		rows = rows[:0]
		for _, v := range pii {
			for _, c := range []string{"email", "phone", "external_id"} {
				rows = append(rows, `{"timestamp":`+ts+`,"event":"Purchase","`+c+`":"`+v+`","page_url":"https://x.example/"}`)
				rows = append(rows, `{"timestamp":"2020-01-01","event":"Purchase","`+c+`":"`+v+`","page_url":"https://x.example/"}`)
				rows = append(rows, `{"timestamp":`+ts+`,"event":"Purchase","`+c+`":"`+v+`","page_url":"https://x.example/","event_id":"same"}`)
			}
		}
		res := run(t, cfg, "["+strings.Join(rows, ",")+"]")
		if len(res.Rejects) == 0 {
			t.Fatal("no rejects: the test would prove nothing")
		}
		for _, r := range res.Rejects {
			for _, v := range pii {
				if strings.Contains(r.Err, v) || strings.Contains(r.Err, strings.ToLower(v)) {
					t.Errorf("reject %+v contains %q", r, v)
				}
			}
		}
	}
}

func TestDeadLetterRow(t *testing.T) {
	tr := mustT(t, offline())
	msg := []byte(`[{"timestamp":1,"email":"a@b.co"},
	 {"timestamp":"2020-01-01", "email":" Ann@Example.com", "phone":"555", "external_id":"u1", "note":"k\u00e9", "n":null, "x":{"a":1}}]`)
	got, err := tr.DeadLetterRow(msg, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"timestamp":"2020-01-01","email":"` + sha("ann@example.com") + `","phone":"555","external_id":"` + sha("u1") + `","note":"k\u00e9","n":null,"x":{"a":1}}`
	if string(got) != want {
		t.Errorf("DeadLetterRow\n got %s\nwant %s", got, want)
	}
	// A replayed dead letter is sent with the same hashes.
	res := run(t, offline(), `{"timestamp":`+ts+`,"event_id":"e","email":"`+sha("ann@example.com")+`"}`)
	if !strings.Contains(string(res.Events[0].JSON), sha("ann@example.com")) {
		t.Error("hashed email not passed through")
	}
	if _, err := tr.DeadLetterRow(msg, 2); err == nil {
		t.Error("row 2 of 2: no error")
	}
	single, err := tr.DeadLetterRow([]byte(` {"phone":"+1 415 555 2671"} `), 0)
	if err != nil || string(single) != `{"phone":"`+sha("+14155552671")+`"}` {
		t.Errorf("single = %s, %v", single, err)
	}
}

// TestDeadLetterFromSpans: the dead letter of each row of a message is the same
// whether it is built from the Result's recorded offsets (DeadLetter), from the last
// message read (DeadLetterRow), or from another message indexed once; name and
// address columns are hashed too, state and zip_code against the row's country.
func TestDeadLetterFromSpans(t *testing.T) {
	tr := mustT(t, web())
	msg := []byte(` [ {"timestamp":1,"email":"a@b.co"} ,
	 {"zip_code":"94107-1234","first_name":" Ann ","state":"New York","country":"us","city":"bad\u0001city","external_id":"` + strings.ToUpper(sha("u1")) + `"},
	 {"email":"not-an-address","phone":4155552671}] `)
	want := []string{
		`{"timestamp":1,"email":"` + sha("a@b.co") + `"}`,
		`{"zip_code":"` + sha("94107") + `","first_name":"` + sha("ann") + `","state":"` + sha("ny") + `","country":"` + sha("us") + `","city":"bad\u0001city","external_id":"` + sha("u1") + `"}`,
		`{"email":"not-an-address","phone":"` + sha("+14155552671") + `"}`,
	}
	var res Result
	if err := tr.Message(msg, &res); err != nil {
		t.Fatal(err)
	}
	other := mustT(t, web())
	for i, w := range want {
		for name, f := range map[string]func() ([]byte, error){
			"DeadLetter":                   func() ([]byte, error) { return tr.DeadLetter(&res, msg, i) },
			"DeadLetterRow, last message":  func() ([]byte, error) { return tr.DeadLetterRow(msg, i) },
			"DeadLetterRow, other message": func() ([]byte, error) { return other.DeadLetterRow(msg, i) },
		} {
			got, err := f()
			if err != nil || string(got) != w {
				t.Errorf("%s(%d)\n got %s, %v\nwant %s", name, i, got, err, w)
			}
		}
	}
	if _, err := tr.DeadLetter(&res, msg, 3); err == nil {
		t.Error("row 3 of 3: no error")
	}
	// A Result of another input (rows added one by one) does not lend its offsets.
	var one Result
	tr.Reset(&one)
	tr.AddObject([]byte(`{"timestamp":1,"email":"a@b.co"}`))
	tr.AddObject([]byte(`{"email":"x@y.co"}`))
	tr.Finish()
	if got, err := tr.DeadLetter(&one, msg, 1); err != nil || string(got) != want[1] {
		t.Errorf("DeadLetter with another input's Result = %s, %v; want %s", got, err, want[1])
	}
	if _, err := other.DeadLetterRow([]byte(`[{"a":1},`), 0); err == nil {
		t.Error("a broken message: no error")
	}
}

// BenchmarkDeadLetterEveryRow: dead-lettering every row of a 1,000-row message is
// linear (the message is not parsed again per row).
func BenchmarkDeadLetterEveryRow(b *testing.B) {
	rows := typicalRows(1000)
	msg := []byte("[" + string(bytesJoin(rows, ",")) + "]")
	tr := mustT(b, offline())
	var res Result
	if err := tr.Message(msg, &res); err != nil {
		b.Fatal(err)
	}
	other := mustT(b, offline())
	b.ReportAllocs()
	for b.Loop() {
		for i := range res.Rows {
			if _, err := other.DeadLetterRow(msg, i); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*res.Rows)/b.Elapsed().Seconds(), "rows/s")
}

func bytesJoin(s [][]byte, sep string) []byte {
	var out []byte
	for i, r := range s {
		if i > 0 {
			out = append(out, sep...)
		}
		out = append(out, r...)
	}
	return out
}
