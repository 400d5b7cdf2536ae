// Package dedup remembers which events TikTok has accepted, per destination, so that a
// redelivered or re-published row is not sent twice (SPEC §5, docs/dedup.md).
//
// The Store is a small interface so another store can replace the one here, the sent
// log (OpenSentLog). Memory is a Store for tests and single-process tools.
//
// # The sent log
//
// When TikTok accepts a request the worker appends one record to the stream
// <PREFIX>_SENT (created by broker.Ensure) on <prefix>.sent.<destination>: a JSON
// message with the accepted-at time, TikTok's request_id and the events it accepted
// (name and event_id each). The stream is S2-compressed, keeps records for
// dedup.retention (default the largest destination window + 24h, 29 days) and has one
// subject per destination, so an operator reads it with `nats stream view` and a
// replica reads only what it serves.
//
// Every replica reads the log at start, with an ordered consumer over its
// destinations' subjects, and follows it while running; it is not ready (Ready,
// WaitCaughtUp) until it has read what was there at open. It keeps an index in memory
// from a 64-bit fingerprint of (destination, event name, event id) — TikTok's own
// dedup key: a Purchase that shares its id with an InitiateCheckout is another event —
// to the record that holds it, in an open-addressing table of 12-byte slots (about 18
// bytes per remembered event at its average fill). Sent is a lookup in that table,
// no round trip; Append publishes a record, waits for the server's ack and puts its
// keys in the local index at once. Records other replicas append reach the index
// through the follower, milliseconds later: copies of one event held at the same
// moment by two replicas may both be sent, and TikTok drops the repeat by event_id.
//
// Entries leave the index when their record ages out: the follower notes, a granule
// (a minute) at a time, up to which sequence records are how old, and a key whose
// record is older than the retention counts as absent at once; a sweep gives the
// memory back in steps of 65,536 slots. Fingerprint collisions (about n²/2⁶⁵ pairs
// among n keys) are what the index gives up for its size: a colliding new event would
// be taken as sent with probability n/2⁶⁴ per lookup. Lookup, for operators, reads
// the candidate records themselves and reports only events that really carry the id.
//
// # Upgrading from the first version
//
// The first version kept one KV marker per accepted event (and per-event claims) in
// the bucket TIKTOK_DEDUP; that store is gone, and nothing creates the bucket any
// more. Only its format is still known here (legacy_format.go), for
// UpgradeFromBucket: it copies an existing bucket's live receipts into the sent log
// once, as records whose events have no name (they cover every name), and notes the
// copy in the log; the bucket itself is left for the operator to delete once
// dedup.retention has passed since the upgrade.
package dedup
