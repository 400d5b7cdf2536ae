package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
)

// Three servers, replicas 3: Ensure succeeds (while the cluster may still be placing
// its first streams), and publishing keeps working after one server is gone.
func TestEnsureOnAClusterSurvivesOneServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	// Deadlines are generous: a leader election on a loaded machine takes seconds, and
	// each wait ends as soon as its condition holds.
	c := natstest.RunCluster(t, 3, 30*time.Second)
	ctx := ctxT(t, 90*time.Second)
	b, err := broker.Connect(ctx, config.NATS{URL: c.URLs()}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	topo := testTopology()
	topo.Replicas = 3
	if err := broker.Ensure(ctx, b.JS, topo); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"TIKTOK_ROWS", "TIKTOK_DLQ", "TIKTOK_SENT", "KV_TIKTOK_TOKENS"} {
		if got := streamConfig(t, ctx, b.JS, name).Replicas; got != 3 {
			t.Errorf("%s has %d replicas, want 3", name, got)
		}
	}
	if _, err := b.JS.Publish(ctx, "tiktok.rows.stores", []byte("before")); err != nil {
		t.Fatal(err)
	}

	// Take down the server the client is connected to: the worst case for the client.
	var down int
	for i, s := range c.Servers {
		if s.ClientURL() == b.NC.ConnectedUrl() {
			down = i
		}
	}
	c.Servers[down].Shutdown()
	c.Servers[down].WaitForShutdown()

	// Publishing resumes once the client reconnected and the stream has a leader among
	// the two left; poll with a deadline (there is no event to wait on).
	if err := publishWithin(ctx, b.JS, "tiktok.rows.stores", []byte("after"), 45*time.Second); err != nil {
		t.Fatalf("publish after one server of three went down: %v", err)
	}
	st, err := b.JS.Stream(ctx, "TIKTOK_ROWS")
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().State.Msgs; got != 2 {
		t.Errorf("rows stream holds %d messages, want 2", got)
	}
	// Ensure still runs (every replica runs it at start, also during an outage of one node).
	if err := broker.Ensure(ctx, b.JS, topo); err != nil {
		t.Errorf("Ensure with one server down: %v", err)
	}
}

func publishWithin(ctx context.Context, js jetstream.JetStream, subj string, data []byte, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.Publish(actx, subj, data)
		acancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}
