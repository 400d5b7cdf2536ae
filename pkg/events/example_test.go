package events_test

import (
	"fmt"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
)

// A message of two line items of one order becomes one event; the value is computed
// exactly from price × quantity.
func ExampleTransformer_Message() {
	tr, err := events.NewTransformer(events.Config{
		EventSource:    events.SourceOffline,
		FixedEventName: "Purchase",
		Now:            func() time.Time { return time.Date(2025, 11, 24, 12, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		panic(err)
	}
	msg := []byte(`[
	 {"timestamp":"2025-11-24T10:26:40Z","event_id":"o-1","email":"Ann@Example.com ","content_id":"sku-1","price":"19.99","quantity":3,"order_id":"o-1"},
	 {"timestamp":"2025-11-24T10:26:40Z","event_id":"o-1","email":"Ann@Example.com ","content_id":"sku-2","price":0.5,"quantity":2,"order_id":"o-1"}]`)
	var res events.Result
	if err := tr.Message(msg, &res); err != nil {
		panic(err)
	}
	for _, ev := range res.Events {
		fmt.Printf("rows %v: %s\n", ev.Rows, ev.JSON)
	}
	// Output:
	// rows [0 1]: {"event":"Purchase","event_time":1763980000,"event_id":"o-1","user":{"email":"71d4f55f72fa128dfb468a1a3901507c804b74316488744d769d7f4b16696476"},"properties":{"contents":[{"content_id":"sku-1","price":19.99,"quantity":3},{"content_id":"sku-2","price":0.5,"quantity":2}],"content_ids":["sku-1","sku-2"],"content_type":"product","currency":"USD","value":60.97,"order_id":"o-1"}}
}

// Rejected rows name the column at fault and never echo a PII value.
func ExampleTransformer_Message_rejects() {
	tr, _ := events.NewTransformer(events.Config{
		EventSource: events.SourceWeb,
		Now:         func() time.Time { return time.Date(2025, 11, 24, 12, 0, 0, 0, time.UTC) },
	})
	msg := []byte(`[
	 {"timestamp":1763980000,"event":"purchase","email":"a@b.co","page_url":"https://shop.example/"},
	 {"timestamp":1763980000,"event":"Purchase","email":"not-an-address","page_url":"https://shop.example/"},
	 {"timestamp":1700000000,"event":"Purchase","email":"a@b.co","page_url":"https://shop.example/"}]`)
	var res events.Result
	_ = tr.Message(msg, &res)
	for _, r := range res.Rejects {
		fmt.Printf("row %d %s %s\n", r.Row, r.Reason, r.Field)
	}
	fmt.Println(res.Rejects[0].Err)
	// Output:
	// row 0 invalid_row event
	// row 1 invalid_row email
	// row 2 outside_window timestamp
	// event: is not a TikTok event name as written; did you mean "Purchase"? (event names are case-sensitive)
}

// A CRM event carries a lead object; name and address columns are normalized and
// hashed like the e-mail.
func ExampleTransformer_Message_crm() {
	tr, err := events.NewTransformer(events.Config{
		EventSource:    events.SourceCRM,
		FixedEventName: "Lead",
		Now:            func() time.Time { return time.Date(2025, 11, 24, 12, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		panic(err)
	}
	msg := []byte(`{"timestamp":"2025-11-24T10:26:40Z","event_id":"l-1","email":"ann@example.com","first_name":" Ann ","country":"US","lead_id":"7305129398742720514","lead_event_source":"HubSpot","value":250}`)
	var res events.Result
	if err := tr.Message(msg, &res); err != nil {
		panic(err)
	}
	fmt.Printf("%s\n", res.Events[0].JSON)
	// Output:
	// {"event":"Lead","event_time":1763980000,"event_id":"l-1","user":{"email":"71d4f55f72fa128dfb468a1a3901507c804b74316488744d769d7f4b16696476","first_name":"49915e0d7d4b402e3017d010bc1c0e83cac6c797d6c16e66340fe3268693a6a1","country":"79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"},"properties":{"content_type":"product","currency":"USD","value":250},"lead":{"lead_id":"7305129398742720514","lead_event_source":"HubSpot"}}
}

// What each source does with a column: the table the transform, the sandbox and
// docs/columns.md read.
func ExampleColumns() {
	for _, c := range events.Columns() {
		switch c.Name {
		case "email", "external_id", "lead_id", "page_url":
			fmt.Printf("%-12s → %-17s web %-8s offline %-8s crm %s\n", c.Name, c.Field, c.Web, c.Offline, c.CRM)
		}
	}
	// Output:
	// email        → user.email        web optional offline optional crm optional
	// external_id  → user.external_id  web optional offline dropped  crm optional
	// lead_id      → lead.lead_id      web dropped  offline dropped  crm required
	// page_url     → page.url          web required offline dropped  crm dropped
}
