package main

import (
	"sync"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/publish"
)

// prefetch reads messages from a source on its own goroutine, so that reading and
// parsing the input overlap with transforming and writing it: preview uses two
// cores. A message is handed over as soon as it is read (no batch waits to fill, so
// output still starts before the input ends); at most limit wait unread.
type prefetch struct {
	mu       sync.Mutex
	notEmpty sync.Cond
	notFull  sync.Cond
	queue    []publish.Message
	limit    int
	err      error // how the source ended: io.EOF or a read error
	stopped  bool
}

func startPrefetch(src publish.Source, limit int) *prefetch {
	p := &prefetch{limit: limit}
	p.notEmpty.L, p.notFull.L = &p.mu, &p.mu
	go p.run(src)
	return p
}

func (p *prefetch) run(src publish.Source) {
	for {
		m, err := src.Next()
		p.mu.Lock()
		for len(p.queue) >= p.limit && !p.stopped {
			p.notFull.Wait()
		}
		if p.stopped {
			p.mu.Unlock()
			return
		}
		if err != nil {
			p.err = err
		} else {
			p.queue = append(p.queue, m)
		}
		p.notEmpty.Signal()
		p.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// take moves every message read so far into buf (emptied first), waiting for at
// least one; once none is left it returns how the source ended.
func (p *prefetch) take(buf []publish.Message) ([]publish.Message, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.queue) == 0 && p.err == nil {
		p.notEmpty.Wait()
	}
	if len(p.queue) == 0 {
		return buf[:0], p.err
	}
	buf = append(buf[:0], p.queue...)
	clear(p.queue) // drop the references to the messages' data
	p.queue = p.queue[:0]
	p.notFull.Signal()
	return buf, nil
}

// stop lets the reading goroutine end without handing over more; one blocked in a
// read of the source ends when the read returns.
func (p *prefetch) stop() {
	p.mu.Lock()
	p.stopped = true
	p.notFull.Broadcast()
	p.mu.Unlock()
}
