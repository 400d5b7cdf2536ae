package normalize

import (
	"errors"
	"strings"
	"testing"
)

// TestErrorsNeverEchoTheValue drives every error path with a value that carries a
// marker and asserts the error names the field in plain words without the value.
func TestErrorsNeverEchoTheValue(t *testing.T) {
	p, err := NewPhone("US")
	if err != nil {
		t.Fatal(err)
	}
	type call func(raw []byte) error
	email := func(raw []byte) error { _, err := AppendEmail(nil, raw); return err }
	hashedEmail := func(raw []byte) error { _, err := AppendHashedEmail(nil, raw); return err }
	phone := func(raw []byte) error { _, err := p.AppendE164(nil, raw); return err }
	hashedPhone := func(raw []byte) error { _, err := p.AppendHashed(nil, raw); return err }
	extID := func(raw []byte) error { _, err := AppendHashedExternalID(nil, raw); return err }
	ts := func(raw []byte) error { _, err := ParseTimestamp(raw); return err }
	price := func(raw []byte) error { _, err := ParseDecimal("price", raw); return err }
	qty := func(raw []byte) error { _, err := ParseQuantity(raw); return err }

	cases := []struct {
		field string
		f     call
		raw   string
		// secret is the part of raw that must not appear; raw itself is checked too.
		secret string
	}{
		{"email", email, "jane.secret.doe", "jane.secret"},
		{"email", email, "jane.secret@@example.com", "jane.secret"},
		{"email", email, "@jane-secret.example.com", "jane-secret"},
		{"email", email, "jane.secret@", "jane.secret"},
		{"email", email, "jane.secret@localhost", "jane.secret"},
		{"email", email, "jane.secret@example..com", "jane.secret"},
		{"email", email, "jane.secret@example.com.", "jane.secret"},
		{"email", email, "jane secret@example.com", "jane secret"},
		{"email", email, "jane\u00a0secret@example.com", "secret"},
		{"email", email, "jane.secret\xff@example.com", "jane.secret"},
		{"email", email, "   ", ""},
		{"email", hashedEmail, "jane.secret.doe", "jane.secret"},
		{"phone", phone, "415-555-01", "555-01"},
		{"phone", phone, "+1 415 555 01", "555 01"},
		{"phone", phone, "+999 415 555 0132", "555 0132"},
		{"phone", phone, "call me maybe 4155", "call me maybe"},
		{"phone", phone, "", ""},
		{"phone", hashedPhone, "jane's phone", "jane"},
		{"external_id", extID, " \t ", ""},
		{"timestamp", ts, "secret-o-clock", "secret"},
		{"timestamp", ts, "-1763980000", "1763980000"},
		{"timestamp", ts, "2026-13-45T99:00:00Z", "2026-13"},
		{"timestamp", ts, "2026-11-20T10:00:00+99:00", "99:00"},
		{"timestamp", ts, "1763980000123456789", "1763980000"},
		{"timestamp", ts, "1969-12-31", "1969"},
		{"timestamp", ts, "", ""},
		{"price", price, "19,99 secret", "secret"},
		{"price", price, "-19.99", "19.99"},
		{"price", price, "1234567890123456789", "123456789"},
		{"price", price, "1e-40", "1e-40"},
		{"quantity", qty, "2.5", "2.5"},
		{"quantity", qty, "lots", "lots"},
	}
	for _, c := range cases {
		err := c.f([]byte(c.raw))
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s(%q): error %v is not a *FieldError", c.field, c.raw, err)
			continue
		}
		msg := err.Error()
		if fe.Field != c.field || !strings.HasPrefix(msg, c.field+": ") || fe.Msg == "" {
			t.Errorf("%s(%q): error %q does not name the field %q", c.field, c.raw, msg, c.field)
		}
		if c.secret != "" && strings.Contains(msg, c.secret) {
			t.Errorf("%s(%q): error %q contains %q", c.field, c.raw, msg, c.secret)
		}
		if raw := strings.TrimSpace(c.raw); len(raw) > 1 && strings.Contains(msg, raw) {
			t.Errorf("%s(%q): error %q echoes the value", c.field, c.raw, msg)
		}
	}

	// Overflow errors name the computed field.
	_, err = Decimal{Units: 1 << 62}.MulInt(4)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "value" {
		t.Errorf("overflow error %v does not name value", err)
	}
}
