// Package dedup remembers which event ids TikTok has accepted, per destination, so a
// redelivered or re-published row is not sent twice (SPEC §5).
//
// The Store is a small interface so another store can replace the one here, NewKV, a
// JetStream key-value bucket (TIKTOK_DEDUP, created by broker.Ensure). Each accepted
// event leaves a marker under the key <destination>.<event id in base64url> whose
// value is a receipt, {"accepted_at": …, "request_id": …}, so an operator can ask
// where any event went (Lookup, or `nats kv get TIKTOK_DEDUP <Key(dest, id)>`).
//
// # The hot path
//
// A synchronous get costs one round trip per event (~24,000 keys/s on the reference
// machine), far below what the pipeline must sustain, so the store never does one per
// event: Seen asks for up to 1,000 keys in one multi-subject direct get
// (jetstreamext.GetLastMsgsFor, nats-server ≥ 2.11, falling back to concurrent single
// gets on older servers), and Mark writes the markers in fast batches of up to 1,000
// (nats-server ≥ 2.14, on a bucket with AllowBatchPublish, which broker.Ensure sets:
// one commit ack and a flow-control ack every few hundred markers), or else publishes
// every marker asynchronously and waits for all the acks at once. Claims are
// compare-and-set writes, pipelined, one ack each (see publishEach for why not
// batches). A delete or purge marker, or a marker older than the bucket's TTL that
// the server has not removed yet, reads as not seen.
//
// # The TTL trade-off
//
// Markers expire after the bucket's TTL (dedup.ttl, default 168h = 7 days). The TTL
// is an operator's trade-off, because both directions cost something:
//
//   - Memory: each marker costs about 200 bytes of NATS server memory (2M markers ≈
//     410 MB of heap on nats-server 2.15), and disk besides. A bucket holds one marker
//     per event accepted within the TTL: events/day × TTL in days × 200 bytes
//     (1M events a day for 7 days ≈ 1.4 GB of server memory).
//   - Duplicates: a row re-published after its marker expired is sent to TikTok
//     again. TikTok itself drops a repeated event_id only within 48 hours, so for a
//     re-publish older than the TTL nothing downstream catches the repeat. Rows older
//     than a destination's window (at most 28 days) are dead-lettered as
//     outside_window rather than sent, which bounds how old a useful re-publish can
//     be: a TTL as long as the window removes the risk entirely, at the memory cost
//     above.
//
// A shorter TTL than 48 h gains nothing in safety terms (TikTok's own window covers
// it) and only saves memory; a longer one protects against late re-publishes (a
// backfill, a replayed DLQ, an upstream job run twice) up to its length.
package dedup
