package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Topology is what Ensure creates.
type Topology struct {
	Names         Names
	Replicas      int           // stream, consumer and KV replicas
	Destinations  []string      // one durable pull consumer each
	MaxAckPending int           // per consumer (shared by every worker replica)
	AckWait       time.Duration // consumer ack wait
	SentRetention time.Duration // sent log max age (dedup.retention)
	DLQRetention  time.Duration // DLQ stream max age

	// Log receives one line per setting Ensure changed on something that existed, and
	// a warning for a setting it cannot change. The zero Logger discards.
	Log zerolog.Logger
}

// Defaults Ensure applies to zero fields of a Topology.
const (
	DefaultMaxAckPending = 1000
	DefaultAckWait       = 60 * time.Second
	DefaultDLQRetention  = 720 * time.Hour
	// DefaultSentRetention is the largest destination window (28 days) + 1 day.
	DefaultSentRetention = 696 * time.Hour
	// SentDuplicateWindow is how long the sent log remembers a Nats-Msg-Id, so that an
	// append repeated after a lost ack is a no-op.
	SentDuplicateWindow = 2 * time.Minute
	// DLQDuplicateWindow is how long the DLQ stream remembers a Nats-Msg-Id, so a
	// dead-letter publish repeated after a crash or a lost ack is a no-op.
	DLQDuplicateWindow = 2 * time.Minute
)

// withDefaults fills zero fields and checks what would otherwise fail deep in the
// server with a less helpful message.
func (t Topology) withDefaults() (Topology, error) {
	if t.Names == (Names{}) {
		t.Names = NamesFor("")
	}
	if t.Replicas <= 0 {
		t.Replicas = 1
	}
	if t.MaxAckPending <= 0 {
		t.MaxAckPending = DefaultMaxAckPending
	}
	if t.AckWait <= 0 {
		t.AckWait = DefaultAckWait
	}
	if t.DLQRetention <= 0 {
		t.DLQRetention = DefaultDLQRetention
	}
	if t.SentRetention <= 0 {
		t.SentRetention = DefaultSentRetention
	}
	seen := map[string]bool{}
	for _, d := range t.Destinations {
		if !ValidDestination(d) {
			return t, fmt.Errorf("destination %q: a name must be one subject token of letters, digits, '-' or '_'", d)
		}
		if seen[d] {
			return t, fmt.Errorf("destination %q is listed twice", d)
		}
		seen[d] = true
	}
	return t, nil
}

// ValidDestination reports whether s can name a destination: it must be a subject
// token, a consumer name and a KV key token at once (letters, digits, '-', '_').
func ValidDestination(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Ensure creates the rows stream, the consumers, the token bucket, the DLQ stream and
// the sent log if missing. It is idempotent and safe when several replicas run it at
// once. It never creates the first version's dedup bucket (Names.DedupBucket): only
// the upgrade reads one that exists, and Ensure leaves it alone.
//
// On something that exists, Ensure changes only the settings it owns (subjects,
// replicas, ages, history, the consumer's ack settings) and logs each change through
// t.Log; settings the server cannot change in place (storage, retention) are logged as
// warnings and left alone. Several replicas racing to create the same thing converge:
// the server accepts an identical create as a no-op, and a lost race ("already in
// use", a cluster still electing a leader) is retried a few times with a short backoff.
func Ensure(ctx context.Context, js jetstream.JetStream, t Topology) error {
	t, err := t.withDefaults()
	if err != nil {
		return err
	}
	n := t.Names
	steps := []struct {
		what string
		do   func(context.Context) error
	}{
		{"rows stream " + n.RowsStream, func(ctx context.Context) error { return ensureRows(ctx, js, t) }},
		{"token bucket " + n.TokenBucket, func(ctx context.Context) error {
			return ensureKV(ctx, js, t, jetstream.KeyValueConfig{
				Bucket:      n.TokenBucket,
				Description: "tiktok-events-worker: rotated OAuth refresh tokens, per app id",
				History:     1,
				Storage:     jetstream.FileStorage,
				Replicas:    t.Replicas,
			})
		}},
		{"DLQ stream " + n.DLQStream, func(ctx context.Context) error { return ensureDLQ(ctx, js, t) }},
		{"sent log " + n.SentStream, func(ctx context.Context) error { return ensureSent(ctx, js, t) }},
	}
	for _, d := range t.Destinations {
		steps = append(steps, struct {
			what string
			do   func(context.Context) error
		}{"consumer " + n.ConsumerName(d), func(ctx context.Context) error { return ensureConsumer(ctx, js, t, d) }})
	}
	for _, s := range steps {
		if err := retry(ctx, s.do); err != nil {
			return fmt.Errorf("ensure %s: %w%s", s.what, err, hint(err))
		}
	}
	return nil
}

// hint turns the errors an operator can fix into advice.
func hint(err error) string {
	var apiErr *jetstream.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.ErrorCode == 10074: // replicas > 1 on a single server
		return " (nats.replicas must be 1 unless NATS runs as a cluster)"
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return " (start nats-server with -js, or enable JetStream for this account)"
	case errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeOverlappingFilterSubjects,
		errors.As(err, &apiErr) && apiErr.ErrorCode == 10100: // filtered consumer not unique on workqueue stream
		return " (another consumer's filter overlaps this destination's subject: remove it, the rows stream is a work queue)"
	}
	return ""
}

func ensureRows(ctx context.Context, js jetstream.JetStream, t Topology) error {
	n := t.Names
	want := jetstream.StreamConfig{
		Name:        n.RowsStream,
		Description: "tiktok-events-worker: rows to send to TikTok, one subject per destination",
		Subjects:    []string{n.RowsFilter()},
		// One durable consumer per destination with disjoint filters: a row can go as
		// soon as its consumer acked it, and nothing else may remove it (see doc.go).
		Retention: jetstream.WorkQueuePolicy,
		Storage:   jetstream.FileStorage,
		Replicas:  t.Replicas,
		Discard:   jetstream.DiscardOld,
	}
	return ensureStream(ctx, js, t.Log, want, func(have *jetstream.StreamConfig) []string {
		var changed []string
		if !slices.Contains(have.Subjects, n.RowsFilter()) {
			changed = append(changed, fmt.Sprintf("subjects %v → +%s", have.Subjects, n.RowsFilter()))
			have.Subjects = append(have.Subjects, n.RowsFilter())
		}
		changed = setReplicas(have, t.Replicas, changed)
		warnFixed(t.Log, have, want)
		return changed
	})
}

func ensureDLQ(ctx context.Context, js jetstream.JetStream, t Topology) error {
	n := t.Names
	want := jetstream.StreamConfig{
		Name:        n.DLQStream,
		Description: "tiktok-events-worker: dead-lettered rows, one subject per destination",
		Subjects:    []string{n.DLQFilter()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    t.Replicas,
		MaxAge:      t.DLQRetention,
		Duplicates:  dupWindow(DLQDuplicateWindow, t.DLQRetention),
		AllowDirect: true,  // `worker dlq ls` reads without a consumer
		DenyDelete:  false, // `worker dlq replay` deletes each replayed letter
		Discard:     jetstream.DiscardOld,
	}
	return ensureStream(ctx, js, t.Log, want, func(have *jetstream.StreamConfig) []string {
		changed := reconcileLimits(have, want)
		if have.DenyDelete {
			// The server cannot lift DenyDelete in place.
			t.Log.Warn().Str("stream", have.Name).
				Msgf("stream %s denies message deletes: `worker dlq replay` cannot remove replayed letters until the stream is recreated without deny_delete", have.Name)
		}
		warnFixed(t.Log, have, want)
		return changed
	})
}

// ensureSent creates the sent log (internal/dedup): one record per request TikTok
// accepted, on <prefix>.sent.<destination>, kept for the dedup retention. Records are
// JSON lists of event ids, which S2 compresses well; they are read back in order at
// every replica's start and followed, and read one by one (direct gets) by `worker
// trace`.
func ensureSent(ctx context.Context, js jetstream.JetStream, t Topology) error {
	n := t.Names
	want := jetstream.StreamConfig{
		Name:        n.SentStream,
		Description: "tiktok-events-worker: the sent log, one record per request TikTok accepted, one subject per destination",
		Subjects:    []string{n.SentFilter()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Compression: jetstream.S2Compression,
		Replicas:    t.Replicas,
		MaxAge:      t.SentRetention,
		Duplicates:  dupWindow(SentDuplicateWindow, t.SentRetention),
		AllowDirect: true,
		Discard:     jetstream.DiscardOld,
	}
	return ensureStream(ctx, js, t.Log, want, func(have *jetstream.StreamConfig) []string {
		changed := reconcileLimits(have, want)
		if have.Compression != want.Compression {
			// The server compresses new blocks from now on; old ones stay as they are.
			changed = append(changed, fmt.Sprintf("compression %s → %s", have.Compression, want.Compression))
			have.Compression = want.Compression
		}
		warnFixed(t.Log, have, want)
		return changed
	})
}

// reconcileLimits brings the settings Ensure owns on an existing limits stream (the
// DLQ, the sent log) in line with want: its subject, replicas, max age (and a
// duplicate window that fits it), direct gets. It returns what it changed.
func reconcileLimits(have *jetstream.StreamConfig, want jetstream.StreamConfig) []string {
	var changed []string
	if subj := want.Subjects[0]; !slices.Contains(have.Subjects, subj) {
		changed = append(changed, fmt.Sprintf("subjects %v → +%s", have.Subjects, subj))
		have.Subjects = append(have.Subjects, subj)
	}
	changed = setReplicas(have, want.Replicas, changed)
	if have.MaxAge != want.MaxAge {
		changed = append(changed, fmt.Sprintf("max age %s → %s", have.MaxAge, want.MaxAge))
		have.MaxAge = want.MaxAge
	}
	// The server refuses a duplicate window longer than the max age.
	have.Duplicates = dupWindow(have.Duplicates, have.MaxAge)
	if have.Duplicates == 0 {
		have.Duplicates = want.Duplicates
	}
	if !have.AllowDirect {
		changed = append(changed, "allow direct false → true")
		have.AllowDirect = true
	}
	return changed
}

// ensureKV creates a bucket, or brings the settings we own on an existing one (TTL,
// replicas, history, direct gets) in line.
func ensureKV(ctx context.Context, js jetstream.JetStream, t Topology, cfg jetstream.KeyValueConfig) error {
	_, err := js.CreateKeyValue(ctx, cfg)
	if err != nil && errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return updateKV(ctx, js, t, "KV_"+cfg.Bucket, cfg)
	}
	return err
}

// updateKV brings the settings we own on an existing bucket in line.
func updateKV(ctx context.Context, js jetstream.JetStream, t Topology, name string, cfg jetstream.KeyValueConfig) error {
	return updateStream(ctx, js, t.Log, name, func(have *jetstream.StreamConfig) []string {
		var changed []string
		changed = setReplicas(have, t.Replicas, changed)
		if have.MaxAge != cfg.TTL {
			changed = append(changed, fmt.Sprintf("ttl %s → %s", have.MaxAge, cfg.TTL))
			have.MaxAge = cfg.TTL
			// The server refuses a duplicate window longer than the max age.
			have.Duplicates = dupWindow(2*time.Minute, cfg.TTL)
		}
		if have.MaxMsgsPerSubject != int64(cfg.History) {
			changed = append(changed, fmt.Sprintf("history %d → %d", have.MaxMsgsPerSubject, cfg.History))
			have.MaxMsgsPerSubject = int64(cfg.History)
		}
		if !have.AllowDirect {
			// A bucket's reads are direct gets (the default for a new bucket).
			changed = append(changed, "allow direct false → true")
			have.AllowDirect = true
		}
		return changed
	})
}

// ensureStream creates want, or, when a stream of that name exists with another
// configuration, applies reconcile to it and updates it if reconcile changed anything.
func ensureStream(ctx context.Context, js jetstream.JetStream, log zerolog.Logger, want jetstream.StreamConfig, reconcile func(*jetstream.StreamConfig) []string) error {
	_, err := js.CreateStream(ctx, want)
	if err == nil || !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return err
	}
	return updateStream(ctx, js, log, want.Name, reconcile)
}

func updateStream(ctx context.Context, js jetstream.JetStream, log zerolog.Logger, name string, reconcile func(*jetstream.StreamConfig) []string) error {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return err // ErrStreamNotFound (deleted meanwhile) is retried
	}
	have := s.CachedInfo().Config
	changed := reconcile(&have)
	if len(changed) == 0 {
		return nil
	}
	if _, err := js.UpdateStream(ctx, have); err != nil {
		return err
	}
	log.Warn().Str("stream", name).Strs("changed", changed).
		Msgf("stream %s existed with other settings: updated %s", name, strings.Join(changed, ", "))
	return nil
}

func setReplicas(have *jetstream.StreamConfig, want int, changed []string) []string {
	if have.Replicas != want {
		changed = append(changed, fmt.Sprintf("replicas %d → %d", have.Replicas, want))
		have.Replicas = want
	}
	return changed
}

// warnFixed logs the differences the server cannot change on an existing stream.
func warnFixed(log zerolog.Logger, have *jetstream.StreamConfig, want jetstream.StreamConfig) {
	if have.Retention != want.Retention {
		log.Warn().Str("stream", have.Name).Str("retention", have.Retention.String()).
			Msgf("stream %s has retention %s, not %s: left as is (recreate the stream to change it)", have.Name, have.Retention, want.Retention)
	}
	if have.Storage != want.Storage {
		log.Warn().Str("stream", have.Name).Str("storage", have.Storage.String()).
			Msgf("stream %s has %s storage, not %s: left as is (recreate the stream to change it)", have.Name, have.Storage, want.Storage)
	}
}

// dupWindow caps a duplicate window at the stream's max age, as the server requires.
func dupWindow(d, maxAge time.Duration) time.Duration {
	if maxAge > 0 && d > maxAge {
		return maxAge
	}
	return d
}

func ensureConsumer(ctx context.Context, js jetstream.JetStream, t Topology, dest string) error {
	n := t.Names
	want := jetstream.ConsumerConfig{
		Durable:       n.ConsumerName(dest),
		Description:   "tiktok-events-worker: destination " + dest + ", shared by every worker replica",
		FilterSubject: n.RowsSubject(dest),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       t.AckWait,
		// The worker dead-letters a message itself after delivery.max_deliver
		// deliveries (retries_exhausted); the server must keep redelivering so that
		// the worker gets to see it that last time.
		MaxDeliver:    -1,
		MaxAckPending: t.MaxAckPending,
		// Replicas 0: the consumer follows the stream, which a work-queue stream
		// requires in a cluster.
	}
	_, err := js.CreateConsumer(ctx, n.RowsStream, want)
	if err == nil || !errors.Is(err, jetstream.ErrConsumerExists) {
		return err
	}
	c, err := js.Consumer(ctx, n.RowsStream, want.Durable)
	if err != nil {
		return err
	}
	have := c.CachedInfo().Config
	var changed []string
	if have.FilterSubject != want.FilterSubject || len(have.FilterSubjects) > 0 {
		changed = append(changed, fmt.Sprintf("filter %q%v → %q", have.FilterSubject, have.FilterSubjects, want.FilterSubject))
		have.FilterSubject, have.FilterSubjects = want.FilterSubject, nil
	}
	if have.AckPolicy != want.AckPolicy {
		// The server cannot change this in place.
		return fmt.Errorf("consumer %s has ack policy %s, the worker needs explicit acks: delete the consumer and start again", want.Durable, have.AckPolicy)
	}
	if have.AckWait != want.AckWait {
		changed = append(changed, fmt.Sprintf("ack wait %s → %s", have.AckWait, want.AckWait))
		have.AckWait = want.AckWait
	}
	if have.MaxDeliver != want.MaxDeliver {
		changed = append(changed, fmt.Sprintf("max deliver %d → %d", have.MaxDeliver, want.MaxDeliver))
		have.MaxDeliver = want.MaxDeliver
	}
	if have.MaxAckPending != want.MaxAckPending {
		changed = append(changed, fmt.Sprintf("max ack pending %d → %d", have.MaxAckPending, want.MaxAckPending))
		have.MaxAckPending = want.MaxAckPending
	}
	if len(changed) == 0 {
		// Only settings we do not own differ (a description, backoff): leave them.
		return nil
	}
	if _, err := js.UpdateConsumer(ctx, n.RowsStream, have); err != nil {
		return err
	}
	t.Log.Warn().Str("consumer", want.Durable).Strs("changed", changed).
		Msgf("consumer %s existed with other settings: updated %s", want.Durable, strings.Join(changed, ", "))
	return nil
}

// retry runs f until it succeeds, fails for good, or has lost a race too often. The
// retried errors are the ones that several replicas starting at once, or a cluster
// still electing its leaders, produce; each settles within a few hundred ms.
func retry(ctx context.Context, f func(context.Context) error) error {
	const attempts = 8
	wait := 25 * time.Millisecond
	var err error
	for i := 0; i < attempts; i++ {
		if err = f(ctx); err == nil || !transient(err) {
			return err
		}
		if i == attempts-1 {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, time.Second)
	}
	return err
}

func transient(err error) bool {
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) ||
		errors.Is(err, jetstream.ErrConsumerExists) ||
		errors.Is(err, jetstream.ErrConsumerNameAlreadyInUse) ||
		errors.Is(err, jetstream.ErrStreamNotFound) || // deleted between create and update
		errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case 10005, // no suitable peers (a cluster still forming)
			10008,                                 // JetStream system temporarily unavailable
			jetstream.JSErrCodeConsumerNameExists, // consumer name already in use
			jetstream.JSErrCodeConsumerCreate:     // includes "consumer already exists" races
			return true
		}
		return apiErr.Code == 503
	}
	return false
}
