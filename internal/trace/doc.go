// Package trace answers "where did event X go?" for operators (worker trace): for each
// event id of one destination, every place it is known — accepted by TikTok (the sent
// log), dead-lettered (the DLQ stream), waiting in the rows stream — or unknown.
//
// It only reads, and every read is bounded, so an answer comes in well under a second
// however much is remembered:
//
//   - sent: one indexed Lookup per id in the sent log (dedup.Store's Lookup);
//   - dead-lettered: the newest Options.ScanDLQ letters of the DLQ stream, read on the
//     destination's subject (the server skips other destinations), bodies parsed for
//     their event_id;
//   - waiting: the first Options.ScanRows messages on the destination's rows subject, read
//     by sequence with direct message gets (no consumer: the rows stream is a work
//     queue, where a second consumer on the subject is refused and would take
//     messages away).
//
// Delivery counts: JetStream counts deliveries per consumer and tells a message's
// count only to the consumer receiving it. Without consuming, trace can say whether a
// waiting message was delivered to the destination's durable consumer and is awaiting
// its ack (its sequence lies between the consumer's ack floor and its last delivered
// sequence) or not yet delivered (past it), and how many messages the consumer is
// redelivering right now (NumRedelivered); that is what it reports.
package trace
