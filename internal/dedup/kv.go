package dedup

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
)

const (
	// batchSize is how many keys one batch get asks for. The server answers at most
	// 1024 messages per multi-subject direct get (maxAllowedResponses in
	// nats-server's getDirectMulti) and fails the whole request beyond that.
	batchSize = 1000
	// markWindow is how many marker publishes are in flight at once: below the
	// client's default async-publish limit (4000), which other publishers on the same
	// connection (dead letters) share.
	markWindow = 2000
	// defaultConcurrency bounds the batch gets (or, on an old server, the single
	// gets) of one call that run at once.
	defaultConcurrency = 4
	fallbackGets       = 16
	// defaultTimeout bounds a call whose context has no deadline: a batch get
	// that never sees its end-of-batch must be an error, not a silent "not seen".
	defaultTimeout = 30 * time.Second
)

// Option configures the store NewKV returns.
type Option func(*kvStore)

// WithClock sets the clock that decides whether a marker outlived the bucket's TTL
// but has not been removed by the server yet. The default is time.Now.
func WithClock(now func() time.Time) Option { return func(s *kvStore) { s.now = now } }

// WithTTL sets the marker lifetime instead of reading it from the bucket's
// configuration on first use. 0 means markers never expire.
func WithTTL(ttl time.Duration) Option {
	return func(s *kvStore) { s.ttl, s.ttlKnown = ttl, true }
}

// WithConcurrency bounds how many batch gets one Seen call runs at once (default 4).
func WithConcurrency(n int) Option {
	return func(s *kvStore) {
		if n > 0 {
			s.conc = n
		}
	}
}

type kvStore struct {
	js         jetstream.JetStream
	bucket     string
	stream     string // KV_<bucket>
	subjPrefix string // $KV.<bucket>.
	now        func() time.Time
	conc       int

	// fast: the bucket's stream allows fast batch publish (read on first use;
	// cleared when the server refuses a batch's first message).
	fast atomic.Bool

	mu       sync.Mutex
	kv       jetstream.KeyValue
	ttl      time.Duration
	ttlKnown bool
	cfgKnown bool
}

// NewKV returns a Store in the JetStream key-value bucket (created by broker.Ensure).
// It needs no round trip until it is used.
func NewKV(js jetstream.JetStream, bucket string, opts ...Option) Claimer {
	s := &kvStore{
		js:         js,
		bucket:     bucket,
		stream:     "KV_" + bucket,
		subjPrefix: "$KV." + bucket + ".",
		now:        time.Now,
		conc:       defaultConcurrency,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Key is the bucket key of event id for destination dest: dest + "." + the id in
// unpadded base64url. KV keys allow only [-/_=.a-zA-Z0-9] and '.' separates subject
// tokens, so the raw id cannot be used: base64url maps any id, whatever its bytes, to
// one token of [-_A-Za-z0-9], reversibly. The empty id, whose encoding is empty, is
// "=", which no encoding produces.
func KVKey(dest, id string) (string, error) {
	if !broker.ValidDestination(dest) {
		return "", fmt.Errorf("destination %q: a name must be letters, digits, '-' or '_'", dest)
	}
	if id == "" {
		return dest + ".=", nil
	}
	return dest + "." + base64.RawURLEncoding.EncodeToString([]byte(id)), nil
}

// handle returns the bucket and the markers' lifetime, looking both up once, and
// learns whether the bucket takes fast batches.
func (s *kvStore) handle(ctx context.Context) (jetstream.KeyValue, time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kv == nil {
		kv, err := s.js.KeyValue(ctx, s.bucket)
		if err != nil {
			return nil, 0, fmt.Errorf("dedup bucket %s: %w (it is created at start by the worker's topology setup)", s.bucket, err)
		}
		s.kv = kv
	}
	if !s.cfgKnown {
		st, err := s.kv.Status(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("dedup bucket %s status: %w", s.bucket, err)
		}
		if !s.ttlKnown {
			s.ttl, s.ttlKnown = st.TTL(), true
		}
		// A server without fast batches does not report the setting: false.
		if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok && bs.StreamInfo() != nil {
			s.fast.Store(bs.StreamInfo().Config.AllowBatchPublish)
		}
		s.cfgKnown = true
	}
	return s.kv, s.ttl, nil
}

// subjectsOf returns the KV subject of each distinct id, in first-seen order, and idx,
// which maps a subject back to every position of ids that holds it. dest must be
// valid (callers check it with Key first).
func (s *kvStore) subjectsOf(dest string, ids []string) (subjects []string, idx map[string][]int) {
	idx = make(map[string][]int, len(ids))
	subjects = make([]string, 0, len(ids))
	for i, id := range ids {
		k, _ := KVKey(dest, id)
		subj := s.subjPrefix + k
		if _, ok := idx[subj]; !ok {
			subjects = append(subjects, subj)
		}
		idx[subj] = append(idx[subj], i)
	}
	return subjects, idx
}

// isReceipt reports whether a marker's value is a delivery receipt, not a claim
// (see Claimer): only receipts mean "sent".
func isReceipt(data []byte) bool {
	_, isClaim := markerKind(data)
	return !isClaim
}

// live reports whether a stored message is a marker in force: not a delete or purge
// marker, not a server limit marker, and not older than the bucket's TTL (the server
// removes expired messages on a timer, so one may still be read shortly after).
func (s *kvStore) live(op, marker string, stored time.Time, ttl time.Duration) bool {
	if op == "DEL" || op == "PURGE" || marker != "" {
		return false
	}
	return ttl <= 0 || s.now().Sub(stored) < ttl
}

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, defaultTimeout)
}

// Seen looks ids up in batches of up to 1,000 keys, each one request answered by a
// stream of messages (a multi-subject direct get, nats-server ≥ 2.11), several batches
// at once. On a server without batch gets it falls back to single gets, 16 at once.
func (s *kvStore) Seen(ctx context.Context, dest string, ids []string) ([]bool, error) {
	seen := make([]bool, len(ids))
	if len(ids) == 0 {
		return seen, nil
	}
	if _, err := KVKey(dest, ""); err != nil {
		return nil, err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	_, ttl, err := s.handle(ctx)
	if err != nil {
		return nil, err
	}

	subjects, idx := s.subjectsOf(dest, ids)
	// Batches cover disjoint subjects, so each writes disjoint elements of seen.
	found := func(subj string) {
		for _, i := range idx[subj] {
			seen[i] = true
		}
	}

	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, s.conc)
		emu  sync.Mutex
		errs []error
	)
	for start := 0; start < len(subjects); start += batchSize {
		chunk := subjects[start:min(start+batchSize, len(subjects))]
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return nil, fmt.Errorf("dedup lookup for %s: %w", dest, ctx.Err())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := s.seenBatch(ctx, chunk, ttl, found); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
				cancel() // the call fails anyway: stop the other batches
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, fmt.Errorf("dedup lookup of %d ids for %s: %w", len(ids), dest, errors.Join(errs...))
	}
	return seen, nil
}

func (s *kvStore) seenBatch(ctx context.Context, subjects []string, ttl time.Duration, found func(string)) error {
	return s.lastMsgs(ctx, subjects, func(m *jetstream.RawStreamMsg) {
		if s.live(m.Header.Get("KV-Operation"), m.Header.Get("Nats-Marker-Reason"), m.Time, ttl) && isReceipt(m.Data) {
			found(m.Subject)
		}
	})
}

// Mark writes the markers in fast batches of up to 1,000 (one commit ack and a
// flow-control ack every few hundred) where the bucket allows them, otherwise
// publishes every marker without waiting and then waits for all the acks; never one
// round trip per key.
func (s *kvStore) Mark(ctx context.Context, dest string, receipts []Receipt) error {
	if len(receipts) == 0 {
		return nil
	}
	if _, err := KVKey(dest, ""); err != nil {
		return err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	if _, _, err := s.handle(ctx); err != nil {
		return err
	}
	writes := make([]casWrite, len(receipts))
	for i, r := range receipts {
		k, _ := KVKey(dest, r.EventID)
		v, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("dedup marker %d for %s: %w", i, dest, err)
		}
		writes[i] = casWrite{subject: s.subjPrefix + k, data: v}
	}
	if err := s.publishMarkers(ctx, writes); err != nil {
		return fmt.Errorf("dedup markers for %s: %d receipts not all acknowledged: %w", dest, len(receipts), err)
	}
	return nil
}

// Lookup returns the receipt of one event id.
func (s *kvStore) Lookup(ctx context.Context, dest, id string) (Receipt, bool, error) {
	k, err := KVKey(dest, id)
	if err != nil {
		return Receipt{}, false, err
	}
	kv, ttl, err := s.handle(ctx)
	if err != nil {
		return Receipt{}, false, err
	}
	e, err := kv.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Receipt{}, false, nil
	}
	if err != nil {
		return Receipt{}, false, fmt.Errorf("dedup lookup for %s: %w", dest, err)
	}
	if !s.live("", "", e.Created(), ttl) || !isReceipt(e.Value()) {
		return Receipt{}, false, nil
	}
	var r Receipt
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return Receipt{}, false, fmt.Errorf("dedup receipt for %s (revision %d) is not a receipt: %w", dest, e.Revision(), err)
	}
	r.EventID = id
	return r, true, nil
}
