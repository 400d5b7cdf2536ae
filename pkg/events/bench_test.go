package events

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// typicalRows returns n typical offline rows (SPEC §8): e-mail in mixed case with
// spaces, a US phone in one of several common formats, one content item.
func typicalRows(n int) [][]byte {
	phones := []string{"(415) 555-%04d", "+1 415-555-%04d", "415.555.%04d", "1 415 555 %04d", "+1415555%04d", "415 555 %04d"}
	rows := make([][]byte, n)
	for i := range rows {
		rows[i] = fmt.Appendf(nil, `{"timestamp":%d,"event":"Purchase","event_id":"order-%d","email":" Customer%d@Example.com ","phone":"%s","content_id":"sku-%d","price":"19.99","quantity":%d,"currency":"USD","order_id":"order-%d"}`,
			now.Unix()-int64(i%86400), 100000+i, i, fmt.Sprintf(phones[i%len(phones)], i%10000), i%500, 1+i%3, 100000+i)
	}
	return rows
}

// BenchmarkTransform: the full transform of a typical offline row, JSON bytes in,
// encoded event bytes out, with a reused Result (the worker's steady state).
func BenchmarkTransform(b *testing.B) {
	rows := typicalRows(1024)
	tr := mustT(b, offline())
	var res Result
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if err := tr.Message(rows[i&1023], &res); err != nil || len(res.Events) != 1 {
			b.Fatalf("%v %+v", err, res.Rejects)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkReference: the same rows through the straightforward implementation the
// issue compares against (map decode, phonenumbers, encoding/json).
func BenchmarkReference(b *testing.B) {
	rows := typicalRows(1024)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := referenceTransform(rows[i&1023], now); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// TestReferenceAgrees keeps the reference honest: on typical rows it produces the
// same event (compared as decoded JSON) as the Transformer.
func TestReferenceAgrees(t *testing.T) {
	tr := mustT(t, offline())
	var res Result
	for _, row := range typicalRows(200) {
		if err := tr.Message(row, &res); err != nil || len(res.Events) != 1 {
			t.Fatalf("%v %+v", err, res.Rejects)
		}
		ref, err := referenceTransform(row, now)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		_ = json.Unmarshal(res.Events[0].JSON, &a)
		_ = json.Unmarshal(ref, &b)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("row %s\n fast %s\n ref  %s", row, res.Events[0].JSON, ref)
		}
	}
}

// The reference implementation: what one would write first.
type refContent struct {
	ContentID string  `json:"content_id,omitempty"`
	Price     float64 `json:"price"`
	Quantity  int64   `json:"quantity"`
}

type refProperties struct {
	Contents    []refContent `json:"contents,omitempty"`
	ContentIDs  []string     `json:"content_ids,omitempty"`
	ContentType string       `json:"content_type,omitempty"`
	Currency    string       `json:"currency,omitempty"`
	Value       float64      `json:"value,omitempty"`
	OrderID     string       `json:"order_id,omitempty"`
}

type refUser struct {
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
}

type refEvent struct {
	Event      string         `json:"event"`
	EventTime  int64          `json:"event_time"`
	EventID    string         `json:"event_id"`
	User       refUser        `json:"user"`
	Properties *refProperties `json:"properties,omitempty"`
}

func refString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

func refHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func referenceTransform(row []byte, now time.Time) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(row, &m); err != nil {
		return nil, err
	}
	var ev refEvent
	ts := refString(m["timestamp"])
	if n, err := strconv.ParseFloat(ts, 64); err == nil {
		if n > 1e11 {
			n /= 1000
		}
		ev.EventTime = int64(n)
	} else if t, err := time.Parse(time.RFC3339, ts); err == nil {
		ev.EventTime = t.Unix()
	} else {
		return nil, errors.New("timestamp")
	}
	if ev.EventTime < now.Add(-DefaultWindow).Unix() || ev.EventTime > now.Add(10*time.Minute).Unix() {
		return nil, errors.New("window")
	}
	ev.Event = refString(m["event"])
	if email := strings.ToLower(strings.TrimSpace(refString(m["email"]))); email != "" {
		if strings.Count(email, "@") != 1 {
			return nil, errors.New("email")
		}
		ev.User.Email = refHash(email)
	}
	if phone := refString(m["phone"]); phone != "" {
		num, err := phonenumbers.Parse(phone, "US")
		if err != nil || !phonenumbers.IsPossibleNumber(num) {
			return nil, errors.New("phone")
		}
		ev.User.Phone = refHash(phonenumbers.Format(num, phonenumbers.E164))
	}
	ev.EventID = refString(m["event_id"])
	if ev.EventID == "" {
		ev.EventID = refHash(ev.User.Email + "|" + ev.User.Phone + "|" + ev.Event + "|" + strconv.FormatInt(ev.EventTime, 10))[:36]
	}
	price, _ := strconv.ParseFloat(refString(m["price"]), 64)
	qty, _ := strconv.ParseInt(refString(m["quantity"]), 10, 64)
	ev.Properties = &refProperties{
		Contents:    []refContent{{ContentID: refString(m["content_id"]), Price: price, Quantity: qty}},
		ContentIDs:  []string{refString(m["content_id"])},
		ContentType: "product",
		Currency:    strings.ToUpper(refString(m["currency"])),
		Value:       math.Round(price*float64(qty)*100) / 100,
		OrderID:     refString(m["order_id"]),
	}
	return json.Marshal(&ev)
}
