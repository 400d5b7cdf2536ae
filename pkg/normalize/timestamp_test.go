package normalize

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseTimestamp(t *testing.T) {
	at := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.Unix()
	}
	ok := []struct {
		in   string
		want int64
	}{
		{"2026-11-20T10:00:00Z", at("2026-11-20T10:00:00Z")},
		{"2026-11-20t10:00:00z", at("2026-11-20T10:00:00Z")},
		{"2026-11-20T10:00:00+02:00", at("2026-11-20T08:00:00Z")},
		{"2026-11-20T10:00:00-05:30", at("2026-11-20T15:30:00Z")},
		{"2026-11-20T10:00:00+0200", at("2026-11-20T08:00:00Z")},
		{"2026-11-20T10:00:00+02", at("2026-11-20T08:00:00Z")},
		{"2026-11-20T10:00:00.123456789Z", at("2026-11-20T10:00:00Z")},
		{"2026-11-20T10:00:00,5+01:00", at("2026-11-20T09:00:00Z")},
		{"2026-11-20T10:00:00.999", at("2026-11-20T10:00:00Z")},
		{"2026-11-20T10:00:00", at("2026-11-20T10:00:00Z")},
		{"2026-11-20 10:00:00", at("2026-11-20T10:00:00Z")},
		{"2026-11-20T10:00", at("2026-11-20T10:00:00Z")},
		{"2026-11-20T10:00Z", at("2026-11-20T10:00:00Z")},
		{"2026-11-20", at("2026-11-20T00:00:00Z")},
		{"  2026-11-20\n", at("2026-11-20T00:00:00Z")},
		{"2024-02-29", at("2024-02-29T00:00:00Z")},
		{"2000-02-29T23:59:59Z", at("2000-02-29T23:59:59Z")},
		{"1970-01-01T00:00:00Z", 0},
		{"1970-01-01T01:00:00+01:00", 0},
		{"9999-12-31T23:59:59Z", maxUnixSeconds},
		{"2026-11-20 10:00:00 +02:00", at("2026-11-20T08:00:00Z")},
		{"2026-11-20 10:00:00 -0700", at("2026-11-20T17:00:00Z")},
		{"2026-11-20T10:00:00 +02:00", at("2026-11-20T08:00:00Z")},
		{"1763980000", 1763980000},
		{"1763980000123", 1763980000},
		{"1763980000999", 1763980000},
		{"1763980000.5", 1763980000},
		{"1763980000.999999999999999999999", 1763980000},
		{"1.76398e9", 1763980000},
		{"1.76398E+9", 1763980000},
		{"1.763980000123e12", 1763980000},
		{"17639800001230e-1", 1763980000},
		{"0.00000000000000000000001763980000e32", 1763980000},
		{"0", 0},
		{"0.0", 0},
		{"100000000000", 100000000000}, // 1e11 itself is seconds
		{"100000000001", 100000000},    // above is milliseconds
		{"100000000000.5", 100000000},  // …even by a fraction
		{"100000000000.0000000000000000001", 100000000}, // …beyond 18 digits too
		{strconv.Itoa(maxUnixMillis), maxUnixSeconds},   // the last millisecond
		{"000001763980000", 1763980000},
	}
	for _, c := range ok {
		got, err := ParseTimestamp([]byte(c.in))
		if err != nil || got != c.want {
			t.Errorf("ParseTimestamp(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	bad := map[string]string{
		"":                              "blank",
		"   ":                           "blank",
		"-1":                            "negative",
		"-1763980000":                   "negative",
		"1969-12-31T23:59:59Z":          "before 1970",
		"1970-01-01T00:00:00+01:00":     "before 1970",
		"0000-01-01":                    "before 1970",
		"9999-12-31T23:59:59-01:00":     "after the year 9999",
		"1763980000123456":              "too large",
		"1.7e300":                       "too large",
		"1e10000000000":                 "too large",
		"2026-13-01":                    "out of range",
		"2026-00-01":                    "out of range",
		"2026-02-29":                    "out of range",
		"2026-04-31":                    "out of range",
		"2026-11-00":                    "out of range",
		"2026-11-20T24:00:00Z":          "out of range",
		"2026-11-20T10:60:00Z":          "out of range",
		"2026-11-20T10:00:60Z":          "out of range",
		"2026-11-20T10:00:00+24:00":     "zone offset",
		"2026-11-20T10:00:00+02:60":     "zone offset",
		"2026-11-20T10:00:00+2":         "zone offset",
		"2026-11-20T10:00:00 PST":       "not ISO 8601",
		"2026-11-20T10:00:00ZZ":         "not ISO 8601",
		"2026-11-20T10:00:00.Z":         "not ISO 8601",
		"2026-11-20T10":                 "not ISO 8601",
		"2026-11-20T1:00:00":            "not ISO 8601",
		"2026-11-2":                     "not ISO 8601",
		"2026/11/20":                    "not ISO 8601",
		"20-11-2026":                    "not ISO 8601",
		"2026-11-20X10:00:00":           "not ISO 8601",
		"Fri, 20 Nov 2026 10:00:00 GMT": "not ISO 8601",
		"yesterday":                     "not ISO 8601",
		"NaN":                           "not ISO 8601",
		"Infinity":                      "not ISO 8601",
		"1763980000.":                   "not ISO 8601",
		".5":                            "not ISO 8601",
		"1e":                            "not ISO 8601",
		"1e+":                           "not ISO 8601",
		"0x10":                          "not ISO 8601",
		"1_763_980_000":                 "not ISO 8601",
		"1763980000 ms":                 "not ISO 8601",
		"+1763980000":                   "not ISO 8601",
		"\"1763980000\"":                "not ISO 8601",
	}
	for in, want := range bad {
		got, err := ParseTimestamp([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseTimestamp(%q) = %d, %v; want an error about %q", in, got, err, want)
		}
	}
}

// TestParseTimestampMatchesTimePackage cross-checks the hand-written ISO parser and
// the civil-date arithmetic against the standard library over many dates.
func TestParseTimestampMatchesTimePackage(t *testing.T) {
	start := time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC)
	for tm := start; tm.Year() < 2400; tm = tm.Add(97*time.Hour + 13*time.Minute + 7*time.Second) {
		for _, layout := range []string{"2006-01-02T15:04:05Z07:00", "2006-01-02 15:04:05", "2006-01-02T15:04:05.000-0700"} {
			s := tm.In(time.FixedZone("", -5*3600-1800)).Format(layout)
			want, _ := time.Parse(layout, s)
			got, err := ParseTimestamp([]byte(s))
			if err != nil || got != want.Unix() {
				t.Fatalf("ParseTimestamp(%q) = %d, %v; want %d", s, got, err, want.Unix())
			}
		}
	}
}

func FuzzTimestamp(f *testing.F) {
	for _, s := range []string{"2026-11-20T10:00:00Z", "2026-11-20T10:00:00+02:00", "2026-11-20 10:00:00", "2026-11-20",
		"1763980000", "1763980000123", "1763980000.5", "1.76398e9", "-1", "9999-12-31T23:59:59Z", "1e400", "2026-11-20 10:00:00 +02:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := ParseTimestamp([]byte(raw))
		if err != nil {
			return
		}
		if got < 0 || got > maxUnixSeconds {
			t.Fatalf("ParseTimestamp(%q) = %d, out of range", raw, got)
		}
		// Whatever the standard library can read as an RFC 3339 time must agree.
		if tm, perr := time.Parse(time.RFC3339Nano, strings.TrimSpace(raw)); perr == nil && tm.Unix() != got {
			t.Fatalf("ParseTimestamp(%q) = %d, time.Parse says %d", raw, got, tm.Unix())
		}
		// Plain integers below 1e11 are seconds as written.
		if n, perr := strconv.ParseInt(strings.TrimSpace(raw), 10, 64); perr == nil && n <= msThreshold && n != got {
			t.Fatalf("ParseTimestamp(%q) = %d, want %d", raw, got, n)
		}
	})
}
