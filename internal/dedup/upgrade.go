package dedup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
)

// UpgradeReport says what UpgradeFromBucket did.
type UpgradeReport struct {
	Copied       bool // false: no bucket, or it was copied before
	Receipts     int  // receipts copied
	Records      int  // records they became
	Destinations int
}

// upgradeBatch is the most receipts one copied record holds, as many as one request.
const upgradeBatch = 1000

// upgradedSubject is where the log notes that bucket was copied: a subject of the log
// with four tokens, which no destination's (<prefix>.sent.<destination>) can be.
func upgradedSubject(names broker.Names, bucket string) string {
	return names.Prefix + ".sent.upgraded." + bucket
}

// UpgradeFromBucket copies the live receipts of the first version's bucket (per-event
// markers, see legacy_format.go) into the sent log once, so that nothing the previous version
// sent is sent again: one record per original request (at most 1,000 receipts each),
// with its request id and accepted-at, and events without a name (old receipts carry
// none, so they cover every name). It then notes in the log that the bucket was
// copied and logs the counts; the bucket is left alone.
//
// It does nothing when the bucket does not exist or the log notes it copied already.
// Replicas starting at once may all copy: they read the same bucket in the same order
// and publish identical records, which the log's duplicate window stores once (and a
// duplicate that slipped past it would only hold the same keys twice). Every replica
// that returns has its copy acknowledged, so a follower opened afterwards catches up
// on all of it. Call it before OpenSentLog.
func UpgradeFromBucket(ctx context.Context, js jetstream.JetStream, names broker.Names, bucket string, log zerolog.Logger) (UpgradeReport, error) {
	var rep UpgradeReport
	kvs, err := js.Stream(ctx, "KV_"+bucket)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return rep, nil
	}
	if err != nil {
		return rep, fmt.Errorf("upgrade: the previous version's dedup bucket %s: %w", bucket, err)
	}
	sent, err := js.Stream(ctx, names.SentStream)
	if err != nil {
		return rep, fmt.Errorf("upgrade: sent log stream %s: %w", names.SentStream, err)
	}
	done := upgradedSubject(names, bucket)
	switch _, err := sent.GetLastMsgForSubject(ctx, done); {
	case err == nil:
		return rep, nil
	case !errors.Is(err, jetstream.ErrMsgNotFound):
		return rep, fmt.Errorf("upgrade: sent log stream %s: %w", names.SentStream, err)
	}

	c := copier{js: js, names: names, dests: map[string]bool{}}
	if kvs.CachedInfo().State.Msgs > 0 {
		if err := c.copy(ctx, kvs, bucket); err != nil {
			return rep, fmt.Errorf("upgrade: copying bucket %s into the sent log %s: %w", bucket, names.SentStream, err)
		}
	}
	note, _ := json.Marshal(map[string]any{"upgraded_from": bucket, "receipts": c.receipts, "records": c.records})
	if _, err := js.Publish(ctx, done, note, jetstream.WithMsgID("upgraded-"+bucket)); err != nil {
		return rep, fmt.Errorf("upgrade: noting the copy of %s in the sent log: %w", bucket, err)
	}
	rep = UpgradeReport{Copied: true, Receipts: c.receipts, Records: c.records, Destinations: len(c.dests)}
	log.Info().Str("bucket", bucket).Int("receipts", rep.Receipts).Int("records", rep.Records).Int("destinations", rep.Destinations).
		Msgf("upgrade: copied %d receipts of the previous version's bucket %s into the sent log %s as %d records; the bucket is left as it is (see docs/dedup.md for when to delete it)",
			rep.Receipts, bucket, names.SentStream, rep.Records)
	return rep, nil
}

// copier turns a bucket's receipts into sent log records, in the bucket's order.
type copier struct {
	js       jetstream.JetStream
	names    broker.Names
	dests    map[string]bool
	receipts int
	records  int
	cur      Record
	pending  []jetstream.PubAckFuture
}

func (c *copier) copy(ctx context.Context, kvs jetstream.Stream, bucket string) error {
	ttl := kvs.CachedInfo().Config.MaxAge
	prefix := "$KV." + bucket + "."
	oc, err := c.js.OrderedConsumer(ctx, "KV_"+bucket, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{prefix + ">"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return err
	}
	it, err := oc.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	now := time.Now()
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		if dest, id, r, ok := receiptOf(m, md, prefix, ttl, now); ok {
			if err := c.add(ctx, dest, id, r); err != nil {
				return err
			}
		}
		if md.NumPending == 0 {
			break
		}
	}
	if err := c.flush(ctx); err != nil {
		return err
	}
	return c.wait(ctx)
}

// receiptOf reads a live receipt from a bucket message: not a delete, a purge, a
// server marker, a claim, or older than the bucket's TTL.
func receiptOf(m jetstream.Msg, md *jetstream.MsgMetadata, prefix string, ttl time.Duration, now time.Time) (dest, id string, r legacyReceipt, ok bool) {
	h := m.Headers()
	if op := h.Get("KV-Operation"); op == "DEL" || op == "PURGE" || h.Get("Nats-Marker-Reason") != "" {
		return "", "", r, false
	}
	if ttl > 0 && now.Sub(md.Timestamp) >= ttl || !isReceipt(m.Data()) {
		return "", "", r, false
	}
	dest, id, ok = parseLegacyKey(strings.TrimPrefix(m.Subject(), prefix))
	if !ok || json.Unmarshal(m.Data(), &r) != nil {
		return "", "", r, false
	}
	return dest, id, r, true
}

// add puts one receipt in the record being built, starting another when the receipt
// comes from another request or the record is full.
func (c *copier) add(ctx context.Context, dest, id string, r legacyReceipt) error {
	if len(c.cur.Events) > 0 && (c.cur.Destination != dest || c.cur.RequestID != r.RequestID ||
		!c.cur.AcceptedAt.Equal(r.AcceptedAt) || len(c.cur.Events) == upgradeBatch) {
		if err := c.flush(ctx); err != nil {
			return err
		}
	}
	if len(c.cur.Events) == 0 {
		c.cur = Record{Destination: dest, AcceptedAt: r.AcceptedAt, RequestID: r.RequestID}
	}
	c.cur.Events = append(c.cur.Events, Key{ID: id})
	c.dests[dest] = true
	c.receipts++
	return nil
}

// flush publishes the record being built without waiting; wait collects the acks,
// every few hundred records so that the client's window never fills.
func (c *copier) flush(ctx context.Context) error {
	if len(c.cur.Events) == 0 {
		return nil
	}
	body, err := encodeRecord(c.cur)
	if err != nil {
		return err
	}
	f, err := c.js.PublishAsync(c.names.SentSubject(c.cur.Destination), body, jetstream.WithMsgID(msgID("upgrade-", body)))
	if err != nil {
		return err
	}
	c.pending = append(c.pending, f)
	c.records++
	c.cur = Record{}
	if len(c.pending) >= 256 {
		return c.wait(ctx)
	}
	return nil
}

func (c *copier) wait(ctx context.Context) error {
	for _, f := range c.pending {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.pending = c.pending[:0]
	return nil
}
