// Package worker is the consume loop (SPEC §1, §5): it pulls rows from each
// destination's durable JetStream consumer, turns them into TikTok events, skips the
// ones the sent log already holds, delivers the rest in batches, dead-letters what
// cannot be delivered, and acks a message only when every row in it is settled.
//
// # The message path
//
// Each destination runs one pipeline. The files follow a message in order:
//
//	fetch.go      pull with a pull buffer; stop while paused or draining
//	transform.go  decode and transform (pkg/events); look the events up in the sent log
//	dedup.go      copies: one pending event per key, its copies wait behind it
//	batch.go      cut requests at batch_size events or max_wait
//	send.go       in_flight senders call tiktokclient
//	settle.go     apply each event's outcome; collect the request's sent-log record
//	record.go     append the records and publish the dead letters, then report back
//	ack.go        ack (and count) or hand back (NAK) a message; keep-alives
//	pause.go      pause, probe, resume     drain.go  shutdown
//	retry.go      the retry watch          state.go  the destination's State
//	loop.go       the core goroutine that owns every message, batch and copy
//
// Only the core goroutine (loop.go) touches messages; the stages around it hand
// values to it through channels, the way River's producer hands jobs to its executor
// and completer.
//
//   - fetch pulls (consumer.Messages) and holds a slot per message, so a replica holds
//     about pull_buffer + (in_flight + 1) × batch_size messages at most.
//   - transform decodes each message with one events.Transformer (malformed → the whole
//     message, as it came, is one malformed_message dead letter), builds the dead
//     letters of rejected rows (deadletter.go is the one place letters are built),
//     groups what is already waiting (up to a batch of rows), and asks the sent log
//     which of the group's events were sent: dedup.Store.Sent, a local lookup, never a
//     round trip. The key is TikTok's own: the event name and its event_id, so an
//     InitiateCheckout and a Purchase that share an id are two events.
//   - the core sorts each event: in the sent log → duplicate; a copy of an event this
//     replica has queued or in flight (same key, another message) → it waits behind
//     that one and becomes a duplicate when it is accepted (a replica never sends an
//     event twice); else it joins the batcher. A batch leaves at batch_size events,
//     after max_wait, at once when the consumer reports nothing pending, or when
//     nothing arrived for max_wait/10 (at most 25 ms) with a sender free.
//   - senders call Send, in_flight at a time. Accepted → the rows are sent, and the
//     request gets one sent-log record (accepted-at, TikTok's request_id, the
//     accepted events' names and ids; one per request_id when the client split the
//     batch); rejected → rejected dead letters with TikTok's code, message and
//     request_id; unsettled → see Pauses.
//   - each turn of the core loop writes its records (dedup.Store.Append, one per
//     request) and dead letters in one IO job; a message is acked only once the
//     records and letters covering its rows are acknowledged. Dead letters of a
//     message go out when the rest of it is settled, so a message handed back never
//     leaves letters for rows it will redo (their Nats-Msg-Id makes a repeat a no-op).
//   - an accepted event's key stays among the copies until its record is acknowledged
//     and a lookup made after that has been admitted (an append epoch), so no copy
//     slips between the acceptance and the log.
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
// holds in every Stats snapshot and in the Prometheus counters, and is checked per
// message at ack time (a mismatch is logged). A malformed message counts as one row.
// A message handed back (NAK) is not counted until a later delivery settles it; a row
// whose event was accepted in an earlier delivery is then a duplicate. SentEvents
// counts what TikTok accepted and matches its count; MatchKeys counts the accepted
// events carrying each match key (tiktok_worker_match_key_events_total).
//
// # States
//
// A destination is Starting (waiting for its consumer, or its connection check),
// Running, Retrying, Paused, Draining or Stopped: one State, moved only by the
// transition table in state.go, exported as tiktok_worker_destination_state.
//
// Retrying: the client reports every HTTP exchange (Worker.Observe, wired to
// tiktokclient.WithObserver); retries are counted as they happen. When a destination's
// requests have been retried for Options.RetryingAfter (default 30 s) without an
// answer that settles one, it logs once (TikTok's code, the HTTP status or the network
// error) and becomes Retrying: Ready stays true and says "retrying since <RFC 3339>".
// The first answer that settles a request brings it back to Running.
//
// # Pauses
//
// A *tiktokclient.CredentialError (TikTok refused the token or the configuration) or
// an error wrapping tiktokclient.ErrGaveUp (no answer settled the request within
// max_elapsed) pauses the destination, alone: Ready reports it with the reason, one log
// line says so, the puller stops, everything not in flight is NAKed with the probe's
// delay (never dead-lettered), and a probe re-sends one event of the failed batch with
// exponential backoff (probe_min … probe_max). When TikTok answers, one log line says
// the destination resumed and pulling starts again. The probe holds no message: if
// TikTok accepts its event, its record is appended before the destination resumes,
// and the redelivered row is a duplicate of it.
//
// With a Deps.Checker, each destination runs the connection check (SPEC §4) before it
// pulls anything. A failing check starts it paused the same way, and the probe runs
// the check again whenever it has no event to re-send. The worker never exits over it.
//
// A message delivered max_deliver times whose rows an outage left unsettled in that
// delivery is acked with those rows dead-lettered as retries_exhausted (Dlq-Attempts
// says how many deliveries). A credential problem never dead-letters, whatever the
// count. Rows that wait past their window are outside_window on redelivery.
//
// # Replicas
//
// Replicas share each destination's durable consumer and the sent log, nothing else;
// there are no claims and no leases. Copies of one event held at the same moment by
// two replicas may both be sent: the window is the time a request is in flight plus
// the sent log's propagation to the other replica (milliseconds on a healthy
// cluster; up to max_elapsed while TikTok retries). TikTok drops the repeat by
// event_id within 48 hours, so the advertiser's count is right; the worker's
// SentEvents counts both. A replica that crashes loses nothing and holds nothing
// back: its unacked messages are redelivered after ack_wait, and what it had sent is
// in the log (an event accepted but not yet recorded is sent again; TikTok drops it).
//
// # Shutdown
//
// Cancelling Run's context drains: pulling stops, queued batches are NAKed at once
// (another replica takes them), requests in flight get 60 % of drain_timeout to
// finish, records and dead letters 80 %, and at 90 % whatever is left is NAKed. Run
// returns within drain_timeout.
package worker
