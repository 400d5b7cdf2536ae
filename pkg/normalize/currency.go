package normalize

import (
	"bytes"

	"golang.org/x/text/currency"
)

// AppendCurrency appends the upper-case ISO 4217 code of raw ("usd" → USD), checked
// against golang.org/x/text/currency's table of codes. Unknown codes and the codes
// that name no money (XXX, XTS) are refused.
func AppendCurrency(dst, raw []byte) ([]byte, error) {
	v := bytes.TrimSpace(raw)
	if len(v) == 0 {
		return dst, fieldErr("currency", "is blank")
	}
	const msg = "is not an ISO 4217 currency code (three letters, e.g. USD)"
	if len(v) != 3 {
		return dst, fieldErr("currency", msg)
	}
	var up [3]byte
	if !upperLetters(up[:], v) {
		return dst, fieldErr("currency", msg)
	}
	switch string(up[:]) {
	case "USD", "EUR", "GBP": // the common ones, without the table look-up
	case "XXX", "XTS":
		return dst, fieldErr("currency", "is not a currency of money (XXX and XTS are placeholders)")
	default:
		if _, err := currency.ParseISO(string(up[:])); err != nil {
			return dst, fieldErr("currency", msg)
		}
	}
	return append(dst, up[:]...), nil
}
