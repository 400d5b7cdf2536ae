// Package events turns rows (the columns of SPEC §3) into TikTok Events API 2.0 event
// objects (SPEC §4) for one destination: decoding, validation with field-level errors,
// PII normalization and hashing through package normalize, event ids, line-item
// merging, the attribution window and the future-timestamp rule.
//
// What each event source (web, offline, crm) takes is one table, Columns: every
// column's request field, rule, example, and per source whether it is required,
// optional or dropped. The transform reads it, the sandbox can check requests against
// it, and docs/columns.md is generated from it (TestColumnsDoc keeps the page in step).
//
// The same Transformer serves `worker preview` and the queue worker (one NATS message
// at a time), so every rule is written once.
//
// Decisions where SPEC §3–§4 is silent:
//
//   - Column names match ignoring ASCII case and surrounding spaces ("Email " in a CSV
//     header is email). A column given twice in one row is an invalid_row naming it.
//     Unknown columns and columns the destination's source does not take are ignored
//     and listed once per Transformer in Result.Ignored (names, never values; a name
//     that looks like an e-mail address or phone number is not repeated either).
//     A nested object or array is an invalid_row only in a column the transform reads.
//   - Whole events or nothing: a row rejected for any reason takes the other rows of
//     its event (same event_id in the message) with it; they are rejected as
//     invalid_row with the bad row's field, naming the bad row by its 0-based index in
//     the message (Reject.Row). A rejected row belongs to an event through its
//     event_id column, or, without one, through the id generated from its e-mail,
//     phone, event and timestamp when those were valid. A row identical to one already
//     merged stays a duplicate.
//   - Merging: the first row of an event_id sets event, event_time and the event-level
//     columns (for each, the first row that has it). A later row with another event,
//     timestamp, currency, value or limited_data_use is an invalid_row naming that
//     field (and so is its event), so the user sees it instead of having it silently
//     folded in. Distinct e-mails, phones and external ids become arrays; the name and
//     address keys are event-level.
//   - value: the exact Σ price × quantity of the priced items; without priced items the
//     value column. Both present and different is an invalid_row naming value on the
//     first row that has one.
//   - limited_data_use (web only): true, false, 1 or 0, any case. true sends
//     "limited_data_use":true even when the destination does not enable it; false
//     leaves it out even when it does.
//   - state and zip_code are judged against the same row's country (an already hashed
//     country counts as unknown). Without a country, a state is sent lower-cased as
//     given, and a ZIP+4-shaped zip_code is cut to five digits.
//   - Errors quote a row's value only for the Quotable columns, and only when the value
//     looks like neither an e-mail address nor a phone number (quote.go); event names
//     are not quoted (a shifted column can put anything there).
//   - The event object's key order is fixed (see encode.go), so bodies are
//     reproducible byte for byte.
//   - DeadLetterRow keeps an invalid PII value as it came (the operator must be able to
//     fix and replay the row); valid ones are replaced by their hashes. Rows are found
//     by the byte offsets recorded when the message was read, never by parsing it
//     once per row.
package events
