package tiktoktest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

const hh = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"

// trackCorpus is bodies the fast path must judge exactly as encoding/json does:
// typical ones (which it reads itself) and every shape it leaves to the reference.
func trackCorpus() []string {
	off, web := `"event_source":"offline","event_source_id":"`+DefaultEventSetID+`"`, `"event_source":"web","event_source_id":"`+DefaultPixelCode+`"`
	crm := `"event_source":"crm","event_source_id":"` + DefaultCRMEventSetID + `"`
	u := `"user":{"email":"` + hh + `"}`
	ld := `,"lead":{"lead_id":"7305129398742720514"}`
	ok := `{"event":"Purchase","event_time":1763980000,"event_id":"o-1","user":{"email":"` + hh + `","phone":"` + hh + `"},"properties":{"contents":[{"content_id":"sku-1","price":19.99,"quantity":3}],"currency":"USD","value":59.97,"order_id":"o-1"}}`
	pg := `,"page":{"url":"https://shop.example/","referrer":"x"}`
	evs := []string{
		ok,
		` { "event" : "Purchase" , "event_time" : 1763980000 , "event_id" : "o-2" , "user" : { "email" : [ "` + hh + `" , "` + hh + `" ] } } `,
		`{"event":"CompletePayment","event_time":1763980000}`,
		`{"event":"Purchase","event_time":1763980000,"event_id":""}`,
		`{"event":"Purchase","event_time":1763980000,"event_id":null}`,
		`{"event":"Purchase","event_time":1763980000,"event_id":"\u00e9t\u00e9"}`,
		`{"event":"Purchase","event_time":1763980000,"event_id":"été"}`,
		`{"event":"Purch\u0061se","event_time":1763980000}`,
		`{"Event":"Purchase","event_time":1763980000}`,
		`{"EVENT_ID":"x","event":"Purchase","event_time":1763980000}`,
		`{"event":"Purchase","event":"Lead","event_time":1763980000}`,
		`{"event":"Purchase","event_time":1763980000,"event_time":"1"}`,
		`{"event":"Purchase","event_time":1763980000,"user":{"email":"` + hh + `"},"user":null}`,
		`{"event":"Purchase","event_time":1763980000,"user":null}`,
		`{"event":"Purchase","event_time":1763980000,"user":[]}`,
		`{"event":"Purchase","event_time":1763980000,"user":{"email":null}}`,
		`{"event":"Purchase","event_time":1763980000,"user":{"email":"\u0039` + hh[1:] + `"}}`,
		`{"event":"Purchase","event_time":1763980000,"user":{"email":["` + hh + `","zz"]}}`,
		`{"event":"Purchase","event_time":1763980000,"user":{"email":["` + hh + `",1]}}`,
		`{"event":"Purchase","event_time":1763980000,"user":{"email":[]}}`,
		`{"event":"Purchase","event_time":1763980000,"user":{"Email":"a@b.co"}}`,
		`{"event":"Purchase","event_time":1763980000,"user":{"external_id":"` + strings.ToUpper(hh) + `"}}`,
		`{"event":"Purchase","event_time":1763980000,"user":{"email":"` + hh + `","email":"x"}}`,
		`{"event":"Purchase","event_time":1763980000.0}`,
		`{"event":"Purchase","event_time":1e9}`,
		`{"event":"Purchase","event_time":-5}`,
		`{"event":"Purchase","event_time":0}`,
		`{"event":"Purchase","event_time":9223372036854775807}`,
		`{"event":"Purchase","event_time":99999999999999999999}`,
		`{"event":"Purchase","event_time":null}`,
		`{"event":"Purchase"}`,
		`{"event":"","event_time":1763980000}`,
		`{"event":null,"event_time":1763980000}`,
		`{"event":5,"event_time":1763980000}`,
		`{"event":"purchase","event_time":1763980000` + pg + `}`,
		`{"event":"clic\u212abutton","event_time":1763980000` + pg + `}`,
		`{"event":"ClicKButton","event_time":1763980000` + pg + `}`,
		`{"event":"MyCustom","event_time":1763980000` + pg + `}`,
		`{"event":"MyCustom","event_time":1763980000,"page":{"url":""}}`,
		`{"event":"MyCustom","event_time":1763980000,"page":{"url":"\/"}}`,
		`{"event":"MyCustom","event_time":1763980000,"page":{"url":5}}`,
		`{"event":"MyCustom","event_time":1763980000,"page":null}`,
		`{"event":"MyCustom","event_time":1763980000,"page":{"url":"a"},"page":{"url":""}}`,
		`{"event":"MyCustom","event_time":1763980000,"page":{"URL":"a"}}`,
		`{"event":"Purchase","event_time":1763980000,"properties":{"a":[1,{"b":[true,false,null,-0.5e+3,"\ud83d\ude00"]}]}}`,
		`{"event":"Purchase","event_time":1763980000,"x":"\xff\xfe"}`,
		`{"event":"Purch\xffase","event_time":1763980000}`,
		// fields per source (the columns table): taken, dropped, required, identity
		`{"event":"Lead","event_time":1763980000,` + u + ld + pg + `}`,
		`{"event":"Lead","event_time":1763980000,` + u + ld + `,"limited_data_use":true}`,
		`{"event":"Lead","event_time":1763980000,` + u + `,"lead":{"lead_id":""}}`,
		`{"event":"Lead","event_time":1763980000,` + u + `,"lead":{"lead_id":5}}`,
		`{"event":"Lead","event_time":1763980000,` + u + `,"lead":{"lead_id":null}}`,
		`{"event":"Lead","event_time":1763980000,` + u + `,"lead":{"lead_id":"\u0037"}}`,
		`{"event":"Lead","event_time":1763980000,` + u + `,"lead":{"lead_id":"7","lead_id":"8"}}`,
		`{"event":"Lead","event_time":1763980000,` + u + `,"lead":{"LEAD_ID":"7"}}`,
		`{"event":"Lead","event_time":1763980000,` + u + `,"lead":"7"}`,
		`{"event":"Lead","event_time":1763980000,` + u + ld + `,"lead":{}}`,
		`{"event":"MyLead","event_time":1763980000,` + u + ld + pg + `}`,
		`{"event":"Purchase","event_time":1763980000,"user":{"first_name":"` + hh + `","zip_code":"` + hh + `","email":"` + hh + `"}` + ld + pg + `}`,
		`{"event":"Purchase","event_time":1763980000,"user":{"first_name":"Ann","email":"` + hh + `"}` + ld + pg + `}`,
		`{"event":"Purchase","event_time":1763980000,"user":{"first_name":null,"email":"` + hh + `"}` + ld + pg + `}`,
		`{"event":"Purchase","event_time":1763980000,"user":{"ip":"203.0.113.7","user_agent":"x","ttp":"t","ttclid":"c","locale":"en"}` + pg + `}`,
		`{"event":"Purchase","event_time":1763980000,"user":{"ip":"203.0.113.7","email":"` + hh + `"}` + ld + pg + `}`,
		`{"event":"Purchase","event_time":1763980000,"user":{"ip":null,"email":"` + hh + `"}` + ld + pg + `}`,
		`{"event":"Purchase","event_time":1763980000,"user":{"external_id":"` + hh + `"}` + ld + pg + `}`,
		`{"event":"Purchase","event_time":1763980000,` + u + `,"page":{"referrer":"r"}` + ld + `}`,
		`{"event":"Purchase","event_time":1763980000,` + u + ld + `,"page":{"url":null}}`,
		`{"event":"Purchase","event_time":1763980000,` + u + `,"properties":{"contents":[{"price":1},{"price":2,"brand":"b"}]}` + ld + `}`,
		`{"event":"Purchase","event_time":1763980000,` + u + `,"properties":{"contents":[{"price":1,"price":2}]}` + ld + `}`,
		`{"event":"Purchase","event_time":1763980000,` + u + `,"properties":{"contents":[]}` + ld + `}`,
		`{"event":"Purchase","event_time":1763980000,` + u + `,"properties":{"contents":[null]}` + ld + `}`,
		`{"event":"Purchase","event_time":1763980000,` + u + `,"properties":{"contents":[1]}` + ld + `}`,
		`{"event":"Purchase","event_time":1763980000,` + u + `,"properties":{"contents":{}}` + ld + `}`,
		`{"event":"Purchase","event_time":1763980000,` + u + `,"properties":{"contents":null}` + ld + `}`,
		`{"event":"Purchase","event_time":1763980000,` + u + `,"properties":5` + ld + `}`,
		`{"event":"Purchase","event_time":1763980000,` + u + `,"properties":{"x":{"user":{"ip":1}}}` + ld + `}`,
		`{"event":"Purchase","event_time":1763980000,` + u + `,"properties":{},"properties":{}` + ld + `}`,
		`{"event":"Purchase","event_time":1763980000,"event_id":5,` + u + ld + `}`,
		`{"event":"Purchase","event_time":1763980000,"user":{}` + ld + `}`,
		`{"event":"Purchase","event_time":1763980000,"user":{"phone":["` + hh + `"]}` + ld + `}`,
		`1`, `"x"`, `null`, `[]`, `{}`,
	}
	var out []string
	for _, ev := range evs {
		out = append(out, `{`+off+`,"data":[`+ev+`]}`, `{`+web+`,"data":[`+ev+`]}`, `{`+crm+`,"data":[`+ev+`]}`,
			`{`+off+`,"data":[`+ok+`,`+ev+`]}`)
	}
	return append(out,
		`{`+off+`,"test_event_code":"TEST1","data":[`+ok+`]}`,
		`{"data":[`+ok+`],`+off+`}`,
		` {`+off+`,"data":[`+ok+`]} `+"\n",
		`{`+off+`,"data":[`+ok+`]} x`,
		`{`+off+`,"data":[`+ok+`]`,
		`{`+off+`,"data":[`+ok+`,]}`,
		`{`+off+`,"data":[`+ok+`}`,
		`{`+off+`,"data":[{"event":"Purchase","event_time":01}]}`,
		`{`+off+`,"data":[{"event":"Purchase","event_time":1.}]}`,
		`{`+off+`,"data":[{"event":"Purchase","event_time":1763980000,"x":"a`+"\x01"+`"}]}`,
		`{`+off+`,"data":[{"event":"Purchase","event_time":1763980000,"x":"\q"}]}`,
		`{`+off+`,"data":[{"event":"Purchase","event_time":1763980000,"x":"\u12g4"}]}`,
		`{`+off+`,"data":[{"event":"Purchase","event_time":1763980000,"x":tru}]}`,
		`{`+off+`,"data":[`+ok+`],"data":[]}`,
		`{`+off+`,"data":null}`,
		`{`+off+`,"data":{}}`,
		`{`+off+`,"data":[]}`,
		`{"event_source":"offline","data":[`+ok+`]}`,
		`{"event_source":"app","event_source_id":"1","data":[`+ok+`]}`,
		`{"event_source":"offline","event_source_id":"42","data":[`+ok+`]}`,
		`{"event_source":null,"event_source_id":"42","data":[`+ok+`]}`,
		`{"event_source":"offline","event_source_id":"`+DefaultEventSetID+`","event_source":"web","data":[`+ok+`]}`,
		`{"Event_Source":"offline","event_source_id":"`+DefaultEventSetID+`","data":[`+ok+`]}`,
		`{"event_source":"off\u006cine","event_source_id":"`+DefaultEventSetID+`","data":[`+ok+`]}`,
		`{"event_source":"offline","event_source_id":`+DefaultEventSetID+`,"data":[`+ok+`]}`,
		`{`+off+`,"test_event_code":5,"data":[`+ok+`]}`,
		`{`+off+`,"deep":`+strings.Repeat("[", 600)+strings.Repeat("]", 600)+`,"data":[`+ok+`]}`,
		`{`+off+`,"deep":`+strings.Repeat("[", 11000)+strings.Repeat("]", 11000)+`,"data":[`+ok+`]}`,
		``, ` `, `[]`, `null`, `{`, `{"a"}`, `{"a":1,}`,
	)
}

// The fast path answers every body exactly as the encoding/json reference does:
// the same code and message, and the same events with the same fields and bytes.
func TestFastMatchesReference(t *testing.T) {
	s := New()
	s.PoisonEvent("o-2")
	for i, body := range trackCorpus() {
		sameVerdict(t, s, fmt.Sprintf("body %d", i), []byte(body))
	}
}

func FuzzFastMatchesReference(f *testing.F) {
	for _, body := range trackCorpus() {
		f.Add([]byte(body))
	}
	s := New()
	f.Fuzz(func(t *testing.T, body []byte) { sameVerdict(t, s, "fuzz", body) })
}

func sameVerdict(t *testing.T, s *Server, name string, body []byte) {
	t.Helper()
	ftb, fast, fcode, fmsg := s.validate(body, false)
	rtb, ref, rcode, rmsg := s.validate(body, true)
	if fcode != rcode || fmsg != rmsg {
		t.Fatalf("%s: fast %d %q, reference %d %q\n%.300s", name, fcode, fmsg, rcode, rmsg, body)
	}
	if fcode != 0 {
		return
	}
	if *ftb.src != *rtb.src || *ftb.srcID != *rtb.srcID || ftb.testCode != rtb.testCode || len(fast) != len(ref) {
		t.Fatalf("%s: envelopes differ: %q %q %q %d / %q %q %q %d", name, *ftb.src, *ftb.srcID, ftb.testCode, len(fast), *rtb.src, *rtb.srcID, rtb.testCode, len(ref))
	}
	for i := range fast {
		f, r := fast[i], ref[i]
		if f.name != r.name || string(f.id) != string(r.id) || f.time != r.time || !bytes.Equal(f.raw, r.raw) {
			t.Fatalf("%s: event %d: fast %q %q %d %s, reference %q %q %d %s", name, i, f.name, f.id, f.time, f.raw, r.name, r.id, r.time, r.raw)
		}
	}
}

// The fast path must read the bodies the worker sends itself, or the sandbox is
// back to encoding/json's cost without any test failing.
func TestFastPathReadsTypicalBodies(t *testing.T) {
	ev := `{"event":"%s","event_time":1763980000,"event_id":"order-%d","user":{"email":"` + hh + `","phone":["` + hh + `"]%s},"properties":{"contents":[{"content_id":"sku-1","price":19.99,"quantity":3}],"content_ids":["sku-1"],"content_type":"product","currency":"USD","value":59.97,"order_id":"o-1"}%s}`
	cases := []struct{ src, id, name, user, extra string }{
		{"offline", DefaultEventSetID, "Purchase", "", ""},
		{"web", DefaultPixelCode, "Purchase", `,"first_name":"` + hh + `","ip":"203.0.113.7","user_agent":"Mozilla/5.0"`, `,"page":{"url":"https://shop.example/"},"limited_data_use":true`},
		{"crm", DefaultCRMEventSetID, "Lead", `,"external_id":"` + hh + `","zip_code":"` + hh + `"`, `,"lead":{"lead_id":"7305129398742720514","lead_event_source":"HubSpot"}`},
	}
	for _, tc := range cases {
		var b strings.Builder
		fmt.Fprintf(&b, `{"event_source":%q,"event_source_id":%q,"test_event_code":"T1","data":[`, tc.src, tc.id)
		for i := range 1000 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, ev, tc.name, i, tc.user, tc.extra)
		}
		b.WriteString("]}")
		var tb trackBody
		if !decodeFast([]byte(b.String()), &tb) || len(tb.events) != 1000 {
			t.Fatalf("%s: the fast path gave up on the body", tc.src)
		}
		for i := range tb.events {
			if _, ok := tb.events[i].check(fieldsOf.source(tc.src), false); !ok {
				t.Fatalf("%s: event %d left to the reference", tc.src, i)
			}
		}
	}
}

// Dedup keys are length-prefixed: triples that concatenate alike stay apart.
func TestDedupKeysDoNotCollide(t *testing.T) {
	triples := [][3]string{{"1", "Purchase", "x"}, {"1", "Purchas", "ex"}, {"1P", "urchase", "x"}, {"", "1Purchase", "x"}, {"1", "Purchasex", ""}}
	seen := map[string][3]string{}
	for _, tr := range triples {
		k := string(appendDedupKey(nil, tr[0], tr[1], []byte(tr[2])))
		if other, dup := seen[k]; dup {
			t.Fatalf("%q and %q share a dedup key", tr, other)
		}
		seen[k] = tr
		if !strings.HasSuffix(k, tr[2]) {
			t.Fatalf("key %q does not end with the id", k)
		}
	}
}

func TestReadBody(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000)
	cases := []struct {
		name   string
		r      io.Reader
		length int64
		limit  int64
		want   []byte
		err    bool
	}{
		{"exact length", bytes.NewReader(data), int64(len(data)), 1 << 20, data, false},
		{"unknown length (chunked)", bytes.NewReader(data), -1, 1 << 20, data, false},
		{"length too small", bytes.NewReader(data), 10, 1 << 20, data, false},
		{"length too large", bytes.NewReader(data), 1 << 30, 1 << 20, data, false},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(data)), int64(len(data)), 1 << 20, data, false},
		{"over the limit is cut", bytes.NewReader(data), int64(len(data)), 100, data[:100], false},
		{"read error", iotest.ErrReader(errors.New("boom")), 10, 1 << 20, nil, true},
		{"empty", bytes.NewReader(nil), 0, 1 << 20, []byte{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readBody(tc.r, tc.length, tc.limit)
			if (err != nil) != tc.err || !bytes.Equal(got, tc.want) {
				t.Fatalf("got %d bytes, err %v; want %d bytes, err %v", len(got), err, len(tc.want), tc.err)
			}
		})
	}
}
