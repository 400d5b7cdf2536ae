// Package natstest runs a real in-process JetStream server for tests. The broker is
// never mocked.
package natstest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// RunServer starts a JetStream server on a random 127.0.0.1 port with its store in a
// temporary directory, and shuts it down when the test ends.
func RunServer(tb testing.TB) *server.Server {
	tb.Helper()
	return RunServerIn(tb, tb.TempDir())
}

// RunServerIn is RunServer with a chosen store directory, so a test can restart a
// server on the same data.
func RunServerIn(tb testing.TB, storeDir string) *server.Server {
	tb.Helper()
	return RunServerWith(tb, func(o *server.Options) { o.StoreDir = storeDir })
}

// RunServerWith is RunServer with options changed by configure before the server
// starts: authentication, a fixed port to restart on, a store directory.
func RunServerWith(tb testing.TB, configure func(*server.Options)) *server.Server {
	tb.Helper()
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		NoLog:     true,
		NoSigs:    true,
	}
	if configure != nil {
		configure(opts)
	}
	if opts.StoreDir == "" {
		opts.StoreDir = tb.TempDir()
	}
	s, err := server.NewServer(opts)
	if err != nil {
		tb.Fatalf("natstest: new server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		tb.Fatal("natstest: server not ready within 10s")
	}
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Connect returns a connection and a JetStream context to s, closed when the test ends.
func Connect(tb testing.TB, s *server.Server) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		tb.Fatalf("natstest: connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("natstest: jetstream: %v", err)
	}
	return nc, js
}

// Cluster is a JetStream cluster of in-process servers on 127.0.0.1.
type Cluster struct {
	Servers []*server.Server
}

// URLs is the comma-separated client URL list of the running servers, as nats.url
// takes it.
func (c *Cluster) URLs() string {
	var out string
	for _, s := range c.Servers {
		if !s.Running() {
			continue
		}
		if out != "" {
			out += ","
		}
		out += s.ClientURL()
	}
	return out
}

// RunCluster starts n clustered JetStream servers on random 127.0.0.1 ports and waits,
// up to within, until the cluster has a JetStream meta leader that answers. The
// servers shut down when the test ends.
func RunCluster(tb testing.TB, n int, within time.Duration) *Cluster {
	tb.Helper()
	// Route ports must be known before any server starts, so that each lists all.
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("natstest: reserve a cluster port: %v", err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	dir := tb.TempDir()
	c := &Cluster{}
	for i := 0; i < n; i++ {
		c.Servers = append(c.Servers, RunServerWith(tb, func(o *server.Options) {
			o.ServerName = fmt.Sprintf("s%d", i+1)
			o.StoreDir = filepath.Join(dir, o.ServerName)
			o.Cluster = server.ClusterOpts{Name: "natstest", Host: "127.0.0.1", Port: ports[i]}
			o.Routes = routes
		}))
	}
	nc, err := nats.Connect(c.URLs())
	if err != nil {
		tb.Fatalf("natstest: connect to the cluster: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	// Poll until the meta leader answers: there is no event to wait on.
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, time.Second)
		info, err := js.AccountInfo(actx)
		acancel()
		if err == nil && info != nil && clusterReady(c.Servers) {
			return c
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("natstest: cluster of %d not ready within %s: %v", n, within, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func clusterReady(servers []*server.Server) bool {
	leader := false
	for _, s := range servers {
		if !s.JetStreamIsClustered() {
			return false
		}
		if s.JetStreamIsLeader() {
			leader = true
		}
	}
	return leader
}
