// Package broker connects to NATS (or starts an embedded JetStream server) and creates
// the streams, consumers and key-value buckets the worker needs (SPEC §5).
//
// The topology, for the default prefix "tiktok":
//
//   - TIKTOK_ROWS on tiktok.rows.> — the rows upstream jobs publish. Work-queue
//     retention: every subject tiktok.rows.<destination> has exactly one consumer (the
//     durable "worker-<destination>", shared by every worker replica), so a message can
//     be removed as soon as that consumer acks it. Nothing else has to expire rows, and
//     a row that was never delivered is never dropped for age or size. The server also
//     refuses a second consumer whose filter overlaps, which keeps an accidental ad-hoc
//     consumer from stealing rows; inspect the stream with `nats stream view` instead.
//   - One durable pull consumer per destination: explicit acks, MaxAckPending shared by
//     all replicas, and MaxDeliver -1, because the worker dead-letters a message itself
//     after delivery.max_deliver deliveries (it must see the message to do so).
//   - TIKTOK_SENT on tiktok.sent.> — the sent log (internal/dedup): one record per
//     request TikTok accepted, kept for dedup.retention.
//   - TIKTOK_TOKENS, a key-value bucket holding the rotated OAuth refresh token per app.
//   - TIKTOK_DLQ on tiktok.dlq.> — dead letters, kept for dlq.retention, with a
//     duplicate window so a repeated dead-letter publish (same Nats-Msg-Id) is a no-op,
//     direct gets for `worker dlq ls`, and message deletion for `worker dlq replay`.
//
// Connect pings the server every 10 s and counts the connection stale after 3
// unanswered pings, so a partition that leaves the TCP connection open but silent is
// noticed, logged and reconnected within 40 s (StaleAfter; WithPing changes it);
// readiness (internal/service) follows the connection's status. Rows the server
// handed to the cut-off connection come back after the consumer's ack wait.
//
// Ensure creates what is missing and brings the settings it owns back in line on what
// exists; it is safe to run from every replica at start. It does not create the first
// version's dedup bucket (TIKTOK_DEDUP): a new install never needs it, and the upgrade
// (internal/dedup) only reads one that exists.
package broker
