package events

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzMessage: no input panics; a decoded message accounts for every row once and
// yields valid JSON events; a malformed one leaves the Result empty; every row of a
// decoded message has a dead-letter form that is valid JSON.
func FuzzMessage(f *testing.F) {
	for _, s := range []string{
		`{"timestamp":` + ts + `,"email":"a@b.co","phone":"4155552671","content_id":"x","price":"1.5","quantity":2}`,
		`[{"timestamp":"2025-11-24T10:26:40Z","event_id":"1","email":"a@b.co"},{"timestamp":` + ts + `,"event_id":"1","email":"a@b.co","content_name":"\u00e9\ud83d\ude00"}]`,
		`[{"timestamp":` + ts + `,"event":"purchase","email":"x"},{"a":{"b":[1,{"c":null}]}},{}]`,
		`{"timestamp":1e3,"event_id":-0.5,"email":true,"phone":null}`,
		`[]`, `{`, `[{"a":"\ud800"}]`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, msg []byte, isWeb bool) {
		cfg := offline()
		if isWeb {
			cfg = web()
			cfg.LimitedDataUse = true
		}
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
		for i := range res.Rows {
			dl, err := tr.DeadLetterRow(msg, i)
			if err != nil || !json.Valid(dl) {
				t.Fatalf("DeadLetterRow(%d) = %s, %v", i, dl, err)
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
	f.Fuzz(func(t *testing.T, data []byte) {
		r := csv.NewReader(bytes.NewReader(data))
		r.FieldsPerRecord = -1
		records, err := r.ReadAll()
		if err != nil || len(records) == 0 {
			return
		}
		for _, cfg := range []Config{offline(), web()} {
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
