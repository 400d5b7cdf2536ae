// Package events turns rows (the columns of SPEC §3) into TikTok Events API 2.0 event
// objects (SPEC §4) for one destination: decoding, validation with field-level errors,
// PII normalization and hashing through package normalize, event ids, line-item
// merging, the attribution window and the future-timestamp rule.
//
// The same Transformer serves `worker preview` (a whole input at once) and the queue
// worker (one NATS message at a time), so every rule is written once.
//
// Decisions where SPEC §3–§4 is silent:
//
//   - Column names match ignoring ASCII case and surrounding spaces ("Email " in a CSV
//     header is email). A column given twice in one row is an invalid_row naming it.
//     Unknown columns, web-only columns on an offline destination and value are
//     ignored and listed once per Transformer in Result.Ignored (names, never values).
//     A nested object or array is an invalid_row only in a column the transform reads.
//   - Merging: the first row of an event_id sets event, event_time and the event-level
//     columns (for each, the first row that has it). A later row with another event,
//     timestamp or currency is rejected as invalid_row naming that field, so the user
//     sees it instead of having it silently folded in. Distinct e-mails, phones and
//     external ids become arrays.
//   - The event object's key order is fixed (see encode.go), so bodies are
//     reproducible byte for byte.
//   - DeadLetterRow keeps an invalid PII value as it came (the operator must be able to
//     fix and replay the row); valid ones are replaced by their hashes.
package events
