package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
)

// escapeUTF8 returns s with every byte that is not part of valid UTF-8 written as the
// four characters \xNN, so that tables and JSON lines stay valid UTF-8 and the bytes
// remain visible (a replacement character would hide them).
func escapeUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			fmt.Fprintf(&b, `\x%02X`, s[i])
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// seqList is "letters 7, 8, 9".
func seqList(es []dlq.Entry) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = strconv.FormatUint(e.Seq, 10)
	}
	return "letters " + strings.Join(parts, ", ")
}
