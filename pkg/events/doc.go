// Package events turns rows (the columns of SPEC §3) into TikTok Events API 2.0 event
// objects (SPEC §4) for one destination: decoding, validation with field-level errors,
// PII normalization and hashing through package normalize, event ids, line-item
// merging, the attribution window and the future-timestamp rule.
//
// The same Transformer serves `worker preview` (a whole input at once) and the queue
// worker (one NATS message at a time), so every rule is written once.
package events
