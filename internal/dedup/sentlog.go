package dedup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
)

// SentLog is the Store of the worker: the sent log stream (one record per accepted
// request, see broker.Ensure) and this replica's index of it (see doc.go).
//
// OpenSentLog starts reading the log; Sent answers from the index at once, but the
// index is complete only after WaitCaughtUp returns (Ready says how far it is): the
// worker must not send before that.
type SentLog struct {
	js        jetstream.JetStream
	stream    jetstream.Stream
	names     broker.Names
	serves    map[string]bool
	fp        fingerprints
	now       func() time.Time
	retention time.Duration // 0: records are never forgotten
	sweep     time.Duration
	watch     time.Duration // how often the catch-up is checked against the stream
	log       zerolog.Logger

	mu      sync.RWMutex
	idx     *table
	earlier map[uint64][]uint64            // earlier records of a fingerprint (Lookup)
	nEarly  int                            // entries in earlier
	events  map[string]map[string]struct{} // event names remembered, per destination (Lookup)
	ages    ages
	maxSeq  uint64 // the newest sequence in the index: values are its low 32 bits
	cutoff  uint64 // records before it are forgotten (only grows)

	total    uint64 // records to read before caught up (counted at open)
	target   uint64 // caught up once the record at this sequence is read
	read     atomic.Uint64
	readMu   sync.Mutex
	readCh   chan struct{} // closed and replaced at every record read (waitRead)
	caughtUp chan struct{}
	upOnce   sync.Once

	scratch   []Key // the follower's keys of one record (handle runs on one goroutine)
	cc        jetstream.ConsumeContext
	stop      chan struct{}
	bg        sync.WaitGroup // the sweeper and the catch-up watch
	closeOnce sync.Once
}

var _ Store = (*SentLog)(nil)

// maxEarlier bounds the earlier records kept for Lookup (an event sent twice, by two
// replicas at once or by an upgrade copied twice): beyond it Lookup reports the newest
// record of each event name only. It costs nothing for Sent.
const maxEarlier = 100_000

// closeWait bounds how long Close waits for the follower to stop.
const closeWait = 5 * time.Second

// SentOption configures OpenSentLog.
type SentOption func(*SentLog)

// SentRetention sets how long records are remembered (dedup.retention) instead of the
// stream's max age. Entries older than it are treated as absent at once, whether or
// not the server has removed their record yet.
func SentRetention(d time.Duration) SentOption { return func(s *SentLog) { s.retention = d } }

// SentClock sets the clock that ages records out (default time.Now).
func SentClock(now func() time.Time) SentOption { return func(s *SentLog) { s.now = now } }

// SentLogger sets where the log reports its catch-up, sweeps and skipped records.
func SentLogger(l zerolog.Logger) SentOption { return func(s *SentLog) { s.log = l } }

// SentSweepEvery sets how often aged-out entries leave the index (default: a
// hundredth of the retention, at most an hour). Sent ignores them at once either way.
func SentSweepEvery(d time.Duration) SentOption {
	return func(s *SentLog) {
		if d > 0 {
			s.sweep = d
		}
	}
}

// OpenSentLog opens the sent log of names (created by broker.Ensure) for the
// destinations dests: it counts the records to catch up on, then reads and follows
// them with an ordered consumer in the background. Only the subjects of dests are
// read, so a replica indexes only what it serves. Close stops it.
func OpenSentLog(ctx context.Context, js jetstream.JetStream, names broker.Names, dests []string, opts ...SentOption) (*SentLog, error) {
	if len(dests) == 0 {
		return nil, errors.New("sent log: no destination to serve")
	}
	s := &SentLog{
		js:        js,
		names:     names,
		serves:    make(map[string]bool, len(dests)),
		fp:        newFingerprints(),
		now:       time.Now,
		retention: -1,
		watch:     2 * time.Second,
		log:       zerolog.Nop(),
		idx:       newTable(0),
		earlier:   map[uint64][]uint64{},
		events:    map[string]map[string]struct{}{},
		caughtUp:  make(chan struct{}),
		readCh:    make(chan struct{}),
		stop:      make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	subjects := make([]string, 0, len(dests))
	for _, d := range dests {
		if !broker.ValidDestination(d) {
			return nil, fmt.Errorf("sent log: destination %q: a name must be letters, digits, '-' or '_'", d)
		}
		if !s.serves[d] {
			s.serves[d] = true
			s.events[d] = map[string]struct{}{}
			subjects = append(subjects, names.SentSubject(d))
		}
	}
	st, err := js.Stream(ctx, names.SentStream)
	if err != nil {
		return nil, fmt.Errorf("sent log stream %s: %w (it is created at start by the worker's topology setup)", names.SentStream, err)
	}
	s.stream = st
	if s.retention < 0 {
		s.retention = st.CachedInfo().Config.MaxAge
	}
	s.ages.granule = min(time.Minute, max(s.retention/1000, time.Millisecond))
	if s.sweep == 0 {
		// An hour with the default retention: a sweep costs ~19 ns an entry (5.5 s
		// at 290M), and an hour's aged entries are 0.15 % of a 29-day index.
		s.sweep = min(time.Hour, max(time.Second, s.retention/100))
	}
	if err := s.measure(ctx, subjects); err != nil {
		return nil, err
	}
	if err := s.follow(ctx, subjects); err != nil {
		return nil, err
	}
	s.bg.Go(s.sweeper)
	s.bg.Go(func() { s.watchCatchUp(subjects) })
	return s, nil
}

// Close stops following the log. The index stays readable.
func (s *SentLog) Close() {
	s.closeOnce.Do(func() {
		s.cc.Stop()
		t := time.NewTimer(closeWait)
		select {
		case <-s.cc.Closed():
		case <-t.C: // a connection closed under it may never say so
		}
		t.Stop()
		close(s.stop)
		s.bg.Wait()
	})
}

// WaitCaughtUp returns once the index holds every record that was in the log for the
// served destinations when the log was opened, or ctx's error.
func (s *SentLog) WaitCaughtUp(ctx context.Context) error {
	select {
	case <-s.caughtUp:
		return nil
	case <-ctx.Done():
		_, why := s.Ready()
		return fmt.Errorf("%s: %w", why, ctx.Err())
	}
}

// Ready reports whether the index has caught up with the log, and if not, how far it
// is: "catching up the sent log: 3,000 of 10,000 records".
func (s *SentLog) Ready() (bool, string) {
	select {
	case <-s.caughtUp:
		return true, ""
	default:
	}
	read := min(s.read.Load(), s.total)
	return false, "catching up the sent log: " + thousands(read) + " of " + thousands(s.total) + " records"
}

// Remembered is the number of event keys in the index (aged-out entries leave at the
// next sweep), and the bytes its table holds.
func (s *SentLog) Remembered() (events, bytes int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.idx.len(), s.idx.bytes()
}

// Sent implements Store: a lookup in this replica's index, no round trip. A key is
// sent when its own (destination, event, id) is remembered, or a receipt without an
// event name for its id (carried over from the first version). Destinations the log
// does not serve have nothing sent.
func (s *SentLog) Sent(dest string, keys []Key, out []bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	cut := s.cutoffAt(s.now())
	salt := s.fp.destSalt(dest)
	for i, k := range keys {
		h := s.fp.idHash(k.ID)
		out[i] = s.liveLocked(s.fp.mix(h, salt, k.Event), cut) ||
			k.Event != "" && s.liveLocked(s.fp.mix(h, salt, ""), cut)
	}
}

// Append implements Store: it publishes one record and waits for the server's ack,
// then puts its keys in the index at once (without waiting for the follower).
func (s *SentLog) Append(ctx context.Context, rec Record) error {
	if !s.serves[rec.Destination] {
		return fmt.Errorf("sent log: destination %q is not served by this replica (serving %v)", rec.Destination, s.served())
	}
	if len(rec.Events) == 0 {
		return nil
	}
	body, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	ack, err := s.js.Publish(ctx, s.names.SentSubject(rec.Destination), body, jetstream.WithMsgID(msgID("sent-", body)))
	if err != nil {
		return fmt.Errorf("sent log: the record of request %s (%d events) for %s was not acknowledged: %w", rec.RequestID, len(rec.Events), rec.Destination, err)
	}
	s.mu.Lock()
	s.rememberLocked(rec.Destination, rec.Events, ack.Sequence)
	s.mu.Unlock()
	return nil
}

// defaultTimeout bounds an Append whose context has no deadline: an ack that never
// comes must be an error, not a wait without end.
const defaultTimeout = 30 * time.Second

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, defaultTimeout)
}

// Lookup implements Store. The index cannot list names from fingerprints, so Lookup
// probes every event name remembered for dest (a few dozen) and "", then reads each
// candidate record (a direct get) and keeps the events that really carry id: a
// fingerprint collision never shows as an answer.
func (s *SentLog) Lookup(ctx context.Context, dest, id string) ([]Entry, error) {
	if !s.serves[dest] {
		return nil, fmt.Errorf("sent log: destination %q is not served by this replica (serving %v)", dest, s.served())
	}
	var seqs []uint64
	s.mu.RLock()
	cut := s.cutoffAt(s.now())
	probe := func(name string) {
		fp := s.fp.of(dest, name, id)
		if v, ok := s.idx.get(fp); ok && s.seqOf(v) >= cut {
			seqs = append(seqs, s.seqOf(v))
		}
		for _, q := range s.earlier[fp] {
			if q >= cut {
				seqs = append(seqs, q)
			}
		}
	}
	probe("")
	for name := range s.events[dest] {
		if name != "" {
			probe(name)
		}
	}
	s.mu.RUnlock()
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)

	var out []Entry
	for _, seq := range seqs {
		m, err := s.stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // aged out since
		}
		if err != nil {
			return nil, fmt.Errorf("sent log: reading record %d for %s: %w", seq, dest, err)
		}
		if m.Subject != s.names.SentSubject(dest) {
			continue
		}
		rec, err := decodeRecord(dest, m.Data)
		if err != nil {
			return nil, fmt.Errorf("sent log: record %d for %s: %w", seq, dest, err)
		}
		for _, k := range rec.Events {
			if k.ID == id {
				out = append(out, Entry{Event: k.Event, AcceptedAt: rec.AcceptedAt, RequestID: rec.RequestID, Seq: seq})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Entry) int {
		if c := a.AcceptedAt.Compare(b.AcceptedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	return out, nil
}

func (s *SentLog) served() []string {
	out := make([]string, 0, len(s.serves))
	for d := range s.serves {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// thousands formats n with a comma every three digits: 10,000.
func thousands(n uint64) string {
	d := strconv.FormatUint(n, 10)
	var b []byte
	for i := range len(d) {
		if i > 0 && (len(d)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, d[i])
	}
	return string(b)
}
