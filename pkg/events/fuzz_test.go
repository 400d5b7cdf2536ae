package events

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzMessage: for every source, no input panics; a decoded message accounts for
// every row once and yields valid JSON events; a malformed one leaves the Result
// empty; every row of a decoded message has a dead-letter form that is valid JSON,
// the same from the recorded offsets as from indexing the message again.
func FuzzMessage(f *testing.F) {
	for _, s := range []string{
		`[{"timestamp":` + ts + `,"event":"Lead","event_id":"o","email":"A@B.CO","first_name":" Ann ","last_name":"Smith","city":"Paris","state":"New York","country":"USA","zip_code":"94107-1234","lead_id":"L1","lead_event_source":"HubSpot","page_url":"https://x.example/","limited_data_use":"true","search_string":"tee"},` +
			`{"timestamp":` + ts + `,"event":"Lead","event_id":"o","email":"a@b.co","content_id":"s","price":"$5","quantity":1,"value":"9.5","currency":"eur"}]`,
		`{"timestamp":` + ts + `,"external_id":"` + strings.Repeat("AB", 32) + `","lead_id":7,"country":"EU","state":"Bavaria","zip_code":"SW1A 1AA","limited_data_use":false,"value":-1,"currency":"XXX"}`,
		`[{"timestamp":` + ts + `,"email":"a@b.co","content_id":"a","price":1,"quantity":2,"value":3},{"timestamp":` + ts + `,"email":"a@b.co","content_id":"b","price":1,"quantity":1,"value":4}]`,
		`{"timestamp":` + ts + `,"email":"a@b.co","phone":"4155552671","content_id":"x","price":"1.5","quantity":2}`,
		`[{"timestamp":"2025-11-24T10:26:40Z","event_id":"1","email":"a@b.co"},{"timestamp":` + ts + `,"event_id":"1","email":"a@b.co","content_name":"\u00e9\ud83d\ude00"}]`,
		`[{"timestamp":` + ts + `,"event":"purchase","email":"x"},{"a":{"b":[1,{"c":null}]}},{}]`,
		`{"timestamp":1e3,"event_id":-0.5,"email":true,"phone":null}`,
		`[]`, `{`, `[{"a":"\ud800"}]`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, msg []byte, ldu bool) {
		for _, cfg := range []Config{offline(), web(), crm()} {
			cfg.LimitedDataUse = ldu
			tr := mustT(t, cfg)
			var res Result
			err := tr.Message(msg, &res)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error not ErrMalformed: %v", err)
				}
				if res.Rows != 0 || len(res.Events) != 0 || len(res.Rejects) != 0 {
					t.Fatalf("malformed message left a result: %+v", res)
				}
				return
			}
			if !json.Valid(msg) {
				t.Fatalf("accepted invalid JSON %q", msg)
			}
			checkAccounting(t, &res)
			other := mustT(t, cfg)
			for i := range res.Rows {
				dl, err := tr.DeadLetter(&res, msg, i)
				if err != nil || !json.Valid(dl) {
					t.Fatalf("DeadLetter(%d) = %s, %v", i, dl, err)
				}
				again, err := other.DeadLetterRow(msg, i)
				if err != nil || string(again) != string(dl) {
					t.Fatalf("DeadLetterRow(%d) of another transformer = %s, %v; want %s", i, again, err, dl)
				}
			}
		}
	})
}

// FuzzRecords: CSV rows through SetHeader/AddRecord never panic and account for every
// row once.
func FuzzRecords(f *testing.F) {
	f.Add([]byte("timestamp,email,phone,price,quantity,content_id\n" + ts + ",a@b.co,(415) 555-2671,19.99,3,sku\n"))
	f.Add([]byte("Timestamp,EMAIL,event_id,event_id\n1,x,,\n\"2025-11-24\",\"a@b.co\",1,2\n"))
	f.Add([]byte("timestamp,email\n" + ts + "\n"))
	f.Add([]byte("timestamp,event,email,lead_id,first_name,state,country,zip_code,value,currency,limited_data_use\n" + ts + ",Lead,a@b.co,L1,Ann,Québec,CA,K1A 0B1,10,cad,true\n" + ts + ",Lead,a@b.co,,Ann,XX,US,1,x,ABC,maybe\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := csv.NewReader(bytes.NewReader(data))
		r.FieldsPerRecord = -1
		records, err := r.ReadAll()
		if err != nil || len(records) == 0 {
			return
		}
		for _, cfg := range []Config{offline(), web(), crm()} {
			tr := mustT(t, cfg)
			var res Result
			tr.Reset(&res)
			tr.SetHeader(records[0])
			for _, rec := range records[1:] {
				tr.AddRecord(rec)
			}
			tr.Finish()
			checkAccounting(t, &res)
			if res.Rows != len(records)-1 {
				t.Fatalf("rows = %d, want %d", res.Rows, len(records)-1)
			}
		}
	})
}
