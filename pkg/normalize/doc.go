// Package normalize turns raw customer identifiers, timestamps and amounts into the
// exact forms the TikTok Events API expects: lower-case e-mail addresses, E.164 phone
// numbers, trimmed external ids, Unix seconds, exact decimal money, and SHA-256 hex
// digests of the PII.
//
// Every function works on byte slices and appends to a caller-owned buffer so that the
// per-row path of the worker does not allocate. Errors are *FieldError values that name
// the field and say what was wrong in plain words; they never echo the raw value, since
// that value is PII.
package normalize
