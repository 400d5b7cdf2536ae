// Package publish reads rows from CSV, JSON Lines or a JSON array and publishes them
// to a destination's rows subject (SPEC §3, §6 `worker publish`), asynchronously and
// with every publish acknowledged.
//
// Rows are turned into NATS messages the way upstream publishers are expected to
// send them: consecutive rows that share an event_id (the line items of one order)
// become one message holding a JSON array, so the worker merges them into one event;
// every other row is a message of its own holding one JSON object.
//
// A JSON Lines line that is not valid JSON, a JSON array element that is not an
// object, or a CSV record whose number of cells does not match the header is
// published as it came, in a message of its own, with Message.Err saying why: the
// worker dead-letters it as malformed_message, where the operator sees it. Dropping
// it here would lose it silently; refusing the whole file would block every good row
// behind one bad line (CSV has no way to say which cell went missing). A line holding
// a JSON array is published as it is too (it already is a message of many rows).
//
// `worker preview` reads its input with the same Reader, so that it groups and
// rejects the rows of a file exactly as publish and the worker do.
package publish
