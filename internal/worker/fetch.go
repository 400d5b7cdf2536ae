package worker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// fetcher pulls a destination's messages with a pull buffer (consumer.Messages) and
// stops while the destination is paused or draining.
type fetcher struct {
	cons    jetstream.Consumer
	buffer  int // PullBuffer
	log     zerolog.Logger
	out     chan jetstream.Msg
	slots   chan struct{} // one per message past the pull buffer (bounds what a replica holds)
	resume  chan struct{}
	stopped atomic.Bool // must not pull

	mu   sync.Mutex
	iter jetstream.MessagesContext
}

func newFetcher(buffer, inHand int, log zerolog.Logger) *fetcher {
	return &fetcher{
		buffer: buffer,
		log:    log,
		out:    make(chan jetstream.Msg, 256),
		slots:  make(chan struct{}, inHand),
		resume: make(chan struct{}, 1),
	}
}

// run pulls messages into out until ctx is done or quit is closed. While stopped it
// pulls nothing: stop drains the iterator (what it already buffered still comes out,
// and is handed back), and start opens a new one.
func (f *fetcher) run(ctx context.Context, quit <-chan struct{}) {
	defer close(f.out)
	for ctx.Err() == nil {
		if f.stopped.Load() {
			select {
			case <-ctx.Done():
				return
			case <-f.resume:
			}
			continue
		}
		it, err := f.cons.Messages(jetstream.PullMaxMessages(f.buffer))
		if err != nil {
			f.log.Warn().Err(err).Msg("cannot pull from the consumer; retrying in 1s")
			if !wait(ctx, time.Second) {
				return
			}
			continue
		}
		f.mu.Lock()
		f.iter = it
		stop := f.stopped.Load() || ctx.Err() != nil
		f.mu.Unlock()
		if stop {
			it.Drain()
		}
		if !f.drainIterator(ctx, it, quit) {
			return
		}
		f.mu.Lock()
		f.iter = nil
		f.mu.Unlock()
	}
}

// drainIterator hands on what it yields until it is closed; false when quit closed.
func (f *fetcher) drainIterator(ctx context.Context, it jetstream.MessagesContext, quit <-chan struct{}) bool {
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return true
			}
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				f.log.Error().Err(err).Msg("the destination's consumer is gone; waiting for it to be recreated")
				it.Stop()
				wait(ctx, time.Second)
				return true
			}
			// Missed heartbeats and the like: the iterator recovers by itself.
			f.log.Debug().Err(err).Msg("pull")
			continue
		}
		// A slot per message in hand past the pull buffer: a replica holds about
		// pull_buffer + (in_flight + 1) × batch_size messages at most, the share of the
		// consumer's max_ack_pending it is sized for, so it cannot starve the others.
		select {
		case f.slots <- struct{}{}:
		case <-quit:
			it.Stop()
			return false
		}
		select {
		case f.out <- msg:
		case <-quit:
			it.Stop()
			return false
		}
	}
}

// stop stops pulling (pause or shutdown). Safe from any goroutine.
func (f *fetcher) stop() {
	f.stopped.Store(true)
	f.mu.Lock()
	if f.iter != nil {
		f.iter.Drain()
	}
	f.mu.Unlock()
}

// start resumes pulling after a pause.
func (f *fetcher) start() {
	f.stopped.Store(false)
	select {
	case f.resume <- struct{}{}:
	default:
	}
}

// done frees the slot of a message that is no longer in hand.
func (f *fetcher) done() { <-f.slots }

// wait sleeps d unless ctx ends first; it reports whether d passed.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
