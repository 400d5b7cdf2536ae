package natstest

import (
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy on 127.0.0.1 in front of a server that can stop passing
// bytes while keeping every connection open — a network partition as a client sees
// it: no error, no close, just silence. New connections are accepted during a
// partition too, and stay silent.
type Proxy struct {
	// URL is nats://127.0.0.1:port, the proxy's address for clients.
	URL string

	ln     net.Listener
	target string

	mu     sync.Mutex
	open   chan struct{} // closed while bytes pass
	closed chan struct{}
	conns  []net.Conn
}

// NewProxy starts a proxy to target (host:port) and closes it when the test ends.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("natstest: proxy listen: %v", err)
	}
	p := &Proxy{URL: "nats://" + ln.Addr().String(), ln: ln, target: target,
		open: make(chan struct{}), closed: make(chan struct{})}
	close(p.open)
	go p.accept()
	tb.Cleanup(p.Close)
	return p
}

// Partition stops passing bytes in both directions; connections stay open.
func (p *Proxy) Partition() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default:
	}
}

// Heal passes bytes again, first those held since the partition began (as TCP
// would retransmit them).
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

// Close stops the proxy and every connection through it.
func (p *Proxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.closed:
		return
	default:
	}
	close(p.closed)
	_ = p.ln.Close()
	for _, c := range p.conns {
		_ = c.Close()
	}
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pump(c, up)
		go p.pump(up, c)
	}
}

// pump copies src to dst, holding what it read while the proxy is partitioned.
func (p *Proxy) pump(src, dst net.Conn) {
	defer func() { _ = src.Close(); _ = dst.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or a closed connection: close both sides
		}
	}
}

// wait blocks while the proxy is partitioned; false when it closed.
func (p *Proxy) wait() bool {
	p.mu.Lock()
	open := p.open
	p.mu.Unlock()
	select {
	case <-open:
		return true
	case <-p.closed:
		return false
	}
}
