// Package worker is the consume loop (SPEC §1, §5): it pulls rows from each
// destination's durable JetStream consumer, turns them into TikTok events, skips the
// ones already sent, delivers the rest in batches, dead-letters what cannot be
// delivered, and acks a message only when every row in it is settled.
//
// # The message path
//
// Each destination runs one pipeline of goroutines connected by channels:
//
//	fetch ─▶ transform ─▶ lookup ─▶ core ─▶ senders (in_flight) ─▶ core ─▶ IO jobs ─▶ core ─▶ ack/NAK
//
// The stages:
//
//   - fetch pulls with a pull buffer (consumer.Messages) and stops while the
//     destination is paused or draining.
//   - transform decodes each message with one events.Transformer (malformed → the
//     whole message, as it came, is one malformed_message dead letter), builds the
//     dead letters of rejected rows (invalid_row, outside_window, future_timestamp,
//     with the PII hashed), and groups what is already waiting (up to a batch of
//     rows).
//   - lookup asks the dedup store once per group (dedup.Claimer.Claim, pipelined
//     compare-and-set writes, or dedup.Store.Seen, a bulk get): never one round trip
//     per event.
//   - core owns every message. An event already in the store is a duplicate; an event
//     whose id another message has pending (queued or in flight) waits behind it as a
//     follower, so TikTok never sees one id twice in flight; the rest fill the batch,
//     which leaves at batch_size events, after max_wait, or at once when the consumer
//     reports nothing pending (no backlog: waiting would only add latency).
//   - senders call Send, in_flight at a time. Accepted → the event's rows are sent and
//     its receipt is written to the dedup store (followers become duplicates);
//     Rejected → its rows become rejected dead letters with TikTok's code, message and
//     request_id; Unsettled → see pauses below.
//   - IO jobs write, per turn of the core loop, the dedup receipts and dead letters
//     (pipelined, acknowledged by the server) and report back; only then is a message
//     acked. Dead letters of a message are published when the rest of the message is
//     settled, so a message handed back never leaves letters behind for rows it will
//     redo (and their Nats-Msg-Id makes a repeat a no-op anyway).
//
// Messages in hand get InProgress every ack_wait/3, so long retries do not trigger
// redeliveries.
//
// # Accounting
//
// Rows are counted once, when their message is acked:
//
//	received = sent + duplicates + dead-lettered (by reason)
//
// holds in every Stats snapshot and in the Prometheus counters. A malformed message
// counts as one row. A message handed back (NAK) is not counted until a later delivery
// settles it; a row whose event was accepted in an earlier delivery is then a
// duplicate. SentEvents counts what TikTok accepted, and matches its count.
//
// # Pauses
//
// A *tiktokclient.CredentialError (TikTok refused the token or the configuration) or
// an error wrapping tiktokclient.ErrGaveUp (no answer settled the request within
// max_elapsed) pauses the destination, alone: Ready reports it with the reason, one log
// line says so, the puller stops, everything not in flight is NAKed with the probe's
// delay (never dead-lettered), and a probe re-sends one event of the failed batch with
// exponential backoff (probe_min … probe_max). When TikTok answers, one log line says
// the destination resumed and pulling starts again. The probe holds no message (it
// claims its event's id first, after this replica's release of that id from the
// hand-back has completed, so the two never race): if TikTok accepts it, its receipt
// is written first, and the redelivered row is then a duplicate of it. While another
// replica holds the id, the probe tries the same event again later (up to three times
// before it resumes without a probe) rather than resuming blind and pausing again.
//
// With a Deps.Checker, each destination runs the connection check (SPEC §4) before it
// pulls anything. A failing check — a refused token or setting, or TikTok unreachable —
// starts it paused the same way (Ready false with the check's words, one log line,
// nothing pulled), and the probe runs the check again whenever it has no event to
// re-send; it resumes when the check passes. The worker never exits over it.
//
// A message delivered max_deliver times whose rows an outage left unsettled in that
// delivery is acked with those rows dead-lettered as retries_exhausted (Dlq-Attempts
// says how many deliveries). A credential problem never dead-letters, whatever the
// count. Rows that wait past their window are outside_window on redelivery (the
// transformer checks the window against the injected clock each time).
//
// # Replicas
//
// Replicas share each destination's durable consumer and nothing else but the dedup
// store. Within one replica, a copy of an event (same event_id, another message) never
// leaves while the original is pending: it waits behind it and becomes a duplicate
// once the original is accepted.
//
// Across replicas, when the store is a dedup.Claimer (the KV store is), the lookup
// stage claims the group's event ids instead of only reading receipts, in one call
// per group: a compare-and-set write per new id, pipelined. Each Worker is one claim
// owner (Options.Owner, by default the host name and random hex). Won → the event is
// sent as before; Sent (a receipt) → a duplicate; Held (another owner's live claim)
// → the whole message goes back unsent and uncounted (NAK after max(1s, max_wait)),
// never a duplicate, since the other replica may still fail and hand its own copy
// back. The receipt written after TikTok accepts replaces the claim.
//
// A claim is a lease of sendTimeout (max_elapsed × 1.25 + 30s) + ack_wait +
// max_wait + 1m: long enough for the original's whole delivery (its batch, its wait
// for a sender, its retries, its receipt). When a message goes back unsent (pause,
// outage, drain, store failure, an event held elsewhere) or its unsent events are
// dead-lettered, the claims on those events are released in one Release call per
// turn, in a goroutine of its own; a failed release is logged once and only delays
// those ids until their lease lapses. A replica that crashes keeps its claims until
// then: that is the crash window, during which copies wait (handed back, never
// counted) and after which another replica sends them. A release never touches an id
// this replica has pending again, and a group whose Claim call started before a
// release of one of its ids completed hands that message back rather than send on a
// claim the release may have deleted. A store that is not a Claimer is only asked
// Seen, and copies in flight in two replicas may then both be sent (TikTok drops the
// repeat).
//
// # Shutdown
//
// Cancelling Run's context drains: pulling stops, queued batches are NAKed at once
// (another replica takes them), requests in flight get 60 % of drain_timeout to
// finish, dedup marks and dead letters 80 %, and at 90 % whatever is left is NAKed.
// Run returns within drain_timeout. A crash instead of a drain loses nothing either:
// unacked messages are redelivered after ack_wait, and the dedup store keeps TikTok
// from seeing an accepted event again.
package worker
