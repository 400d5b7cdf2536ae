package events

import "strconv"

// An error about a row may quote the row's value only when its column is Quotable (its
// values are not personal: currency, content_type, price, …) and the value does not
// look like an e-mail address or a phone number (a shifted column can put either
// anywhere). quoted is the one place that decides; every message goes through it.

// quoted returns v as a quoted string followed by a space, for use at the start of an
// error's words about column c, or "" when the value must not be shown.
func quoted(c col, v []byte) string {
	if !columnTable[c].Quotable || looksPersonal(v) || len(v) > 64 {
		return ""
	}
	return strconv.Quote(string(v)) + " "
}

// looksPersonal reports whether v looks like an e-mail address (it has an @) or a
// phone number (at least 7 digits and nothing but digits and the characters numbers
// are written with).
func looksPersonal(v []byte) bool {
	digits := 0
	phoneish := true
	for _, c := range v {
		switch {
		case c == '@':
			return true
		case '0' <= c && c <= '9':
			digits++
		case c == ' ' || c == '+' || c == '-' || c == '(' || c == ')' || c == '.' || c == '/':
		default:
			phoneish = false
		}
	}
	return phoneish && digits >= 7
}

// reportedName is how an ignored column's name is reported: a name that looks like
// an e-mail address or phone number (a CSV whose first line is data, not a header) is
// not repeated.
func reportedName(key []byte) string {
	if looksPersonal(key) {
		return "(a column name that looks like an e-mail address or phone number)"
	}
	return string(key)
}
