package normalize

// FieldError says which input field was wrong and why, without its value.
//
// Msg never contains the raw input: most fields are PII, and error text ends up in
// logs, dead-letter headers and preview output.
type FieldError struct {
	Field string // the input column, e.g. "email"
	Msg   string // plain words, e.g. "is not an e-mail address (no @)"
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// fieldErr builds a *FieldError. Call sites pass constant strings only, so the
// hot path's error returns cost one small allocation and never copy the input.
func fieldErr(field, msg string) error { return &FieldError{Field: field, Msg: msg} }
