package normalize_test

import (
	"errors"
	"fmt"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/normalize"
)

func ExampleAppendEmail() {
	out, err := normalize.AppendEmail(nil, []byte("  Jane.Doe@Example.COM "))
	fmt.Println(string(out), err)

	_, err = normalize.AppendEmail(nil, []byte("jane.doe.example.com"))
	fmt.Println(err)
	// Output:
	// jane.doe@example.com <nil>
	// email: is not an e-mail address (it has no @)
}

func ExampleAppendHashedEmail() {
	out, _ := normalize.AppendHashedEmail(nil, []byte("Jane.Doe@Example.com"))
	fmt.Println(string(out))

	// A value that is already a SHA-256 digest passes through unchanged.
	again, _ := normalize.AppendHashedEmail(nil, out)
	fmt.Println(string(again) == string(out))
	// Output:
	// 86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d
	// true
}

func ExamplePhone_AppendE164() {
	p, err := normalize.NewPhone("US")
	if err != nil {
		panic(err)
	}
	for _, raw := range []string{"(415) 555-0132", "1-415-555-0132", "+44 20 7946 0958", "555"} {
		out, err := p.AppendE164(nil, []byte(raw))
		fmt.Printf("%s %v\n", out, err)
	}
	// Output:
	// +14155550132 <nil>
	// +14155550132 <nil>
	// +442079460958 <nil>
	//  phone: is not a possible phone number (wrong length)
}

func ExampleNewPhone() {
	// Numbers without a country code belong to the default region.
	gb, _ := normalize.NewPhone("GB")
	fmt.Println(gb.E164("020 7946 0958"))
	// Output:
	// +442079460958 <nil>
}

func ExampleAppendHashedExternalID() {
	out, _ := normalize.AppendHashedExternalID(nil, []byte(" cust-42 "))
	fmt.Println(len(out), normalize.IsSHA256Hex(out))

	_, err := normalize.AppendHashedExternalID(nil, []byte("   "))
	fmt.Println(err)
	// Output:
	// 64 true
	// external_id: is blank
}

func ExampleParseTimestamp() {
	for _, raw := range []string{
		"2026-11-20T10:00:00Z",
		"2026-11-20T12:00:00+02:00",
		"2026-11-20 10:00:00", // no zone: UTC
		"1795168800",          // Unix seconds
		"1795168800000",       // Unix milliseconds (above 1e11)
		"1.7951688e9",         // a JSON number with an exponent
	} {
		secs, err := normalize.ParseTimestamp([]byte(raw))
		fmt.Println(secs, err)
	}
	_, err := normalize.ParseTimestamp([]byte("next tuesday"))
	fmt.Println(err)
	// Output:
	// 1795168800 <nil>
	// 1795168800 <nil>
	// 1795168800 <nil>
	// 1795168800 <nil>
	// 1795168800 <nil>
	// 1795168800 <nil>
	// timestamp: is not ISO 8601 (e.g. 2026-11-20T10:00:00Z), Unix seconds or Unix milliseconds
}

func ExampleDecimal_MulInt() {
	price, _ := normalize.ParseDecimal("price", []byte("19.99"))
	qty, _ := normalize.ParseQuantity([]byte("3"))
	value, _ := price.MulInt(qty)
	fmt.Println(string(value.AppendJSON(nil)))
	// Output:
	// 59.97
}

func ExampleDecimal_Add() {
	a, _ := normalize.ParseDecimal("price", []byte("0.1"))
	b, _ := normalize.ParseDecimal("price", []byte("0.2"))
	sum, _ := a.Add(b)
	fmt.Println(sum)
	// Output:
	// 0.3
}

func ExampleFieldError() {
	_, err := normalize.ParseDecimal("price", []byte("-5"))
	var fe *normalize.FieldError
	if errors.As(err, &fe) {
		fmt.Printf("field=%s msg=%q\n", fe.Field, fe.Msg)
	}
	// Output:
	// field=price msg="is negative"
}
