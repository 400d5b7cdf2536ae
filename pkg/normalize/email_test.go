package normalize

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendEmail(t *testing.T) {
	ok := []struct{ in, want string }{
		{"foo@example.com", "foo@example.com"},
		{"  Foo.Bar@Example.COM\n", "foo.bar@example.com"},
		{"\tA+tag@sub.example.co.uk ", "a+tag@sub.example.co.uk"},
		{"o'neil@example.ie", "o'neil@example.ie"},
		{"ÉLODIE@EXAMPLE.FR", "élodie@example.fr"},
		{"user@bücher.de", "user@bücher.de"},
		{"x@y.z", "x@y.z"},
	}
	for _, c := range ok {
		got, err := AppendEmail([]byte("prefix:"), []byte(c.in))
		if err != nil || string(got) != "prefix:"+c.want {
			t.Errorf("AppendEmail(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	bad := map[string]string{
		"":                      "is blank",
		"   ":                   "is blank",
		"foo.example.com":       "no @",
		"foo@@example.com":      "more than one @",
		"a@b@example.com":       "more than one @",
		"@example.com":          "nothing before the @",
		"foo@":                  "nothing after the @",
		"foo@localhost":         "no dot",
		"foo@.example.com":      "empty part",
		"foo@example..com":      "empty part",
		"foo@example.com.":      "ends with a dot",
		"foo bar@example.com":   "white space",
		"foo@exa mple.com":      "white space",
		"foo\x00@example.com":   "control character",
		"foo\x7f@example.com":   "control character",
		"foo\u00a0@example.com": "white space",
		"foo\u2028@example.com": "white space",
		"foo\xff@example.com":   "UTF-8",
	}
	for in, want := range bad {
		got, err := AppendEmail([]byte("prefix:"), []byte(in))
		if err == nil || !strings.Contains(err.Error(), want) || string(got) != "prefix:" {
			t.Errorf("AppendEmail(%q) = %q, %v; want an error about %q and dst unchanged", in, got, err, want)
		}
	}
}

func TestAppendHashedEmail(t *testing.T) {
	want := string(AppendSHA256Hex(nil, []byte("foo@example.com")))
	for _, in := range []string{"foo@example.com", " FOO@Example.com\t"} {
		got, err := AppendHashedEmail(nil, []byte(in))
		if err != nil || string(got) != want {
			t.Errorf("AppendHashedEmail(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	// A digest passes through (trimmed), upper-case hex too, lower-cased.
	if got, err := HashEmail(" " + want + " "); err != nil || got != want {
		t.Errorf("digest did not pass through: %q, %v", got, err)
	}
	if got, err := HashEmail(strings.ToUpper(want)); err != nil || got != want {
		t.Errorf("upper-case digest = %q, %v; want %s", got, err, want)
	}
	// Longer than the stack buffer still works.
	long := strings.Repeat("a", 400) + "@example.com"
	got, err := AppendHashedEmail(nil, []byte(strings.ToUpper(long)))
	if err != nil || string(got) != string(AppendSHA256Hex(nil, []byte(long))) {
		t.Errorf("long address: %s, %v", got, err)
	}
}

func FuzzEmail(f *testing.F) {
	for _, s := range []string{"foo@example.com", " A@B.C ", "a@b", "@", "a@@b.c", "ÉLODIE@EXAMPLE.FR", "\xff@a.b", "a@b..c", "a b@c.d", "Ⱥ@x.y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := AppendEmail(nil, []byte(raw))
		if err != nil {
			if got != nil {
				t.Fatalf("dst changed on error")
			}
			if raw != "" && strings.TrimSpace(raw) != "" && strings.Contains(err.Error(), strings.TrimSpace(raw)) && len(strings.TrimSpace(raw)) > 3 {
				t.Fatalf("error %q echoes the input", err)
			}
			return
		}
		if bytes.Count(got, []byte("@")) != 1 || !utf8.Valid(got) || bytes.ContainsAny(got, " \t\n\r") {
			t.Fatalf("accepted %q as %q", raw, got)
		}
		// Normalizing is idempotent.
		again, err := AppendEmail(nil, got)
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("normalizing %q twice: %q, %v", got, again, err)
		}
		h, err := AppendHashedEmail(nil, []byte(raw))
		if err != nil || !IsSHA256Hex(h) {
			t.Fatalf("hash of an accepted address: %q, %v", h, err)
		}
	})
}
