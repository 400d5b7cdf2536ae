package service_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/service"
)

// A replica cut off from NATS by a partition — its connection open, no bytes
// passing — goes not ready within 45 s and says so in the log, and is ready again
// once bytes pass, with every row published before and during the partition
// delivered and none dead-lettered. The ping settings are shortened so the test
// takes seconds; TestPingDefaultsNoticeAPartitionWithin45s (internal/broker) holds
// the production settings to 45 s.
func TestPartitionedReplicaGoesNotReadyAndRecovers(t *testing.T) {
	e := newEnv(t)
	// Rows the server handed to the cut-off connection never reach the replica; the
	// server delivers them again after ack_wait (default 60 s), which the test
	// shortens.
	e.cfg.Delivery.AckWait = config.Duration(3 * time.Second)
	proxy := natstest.NewProxy(t, e.srv.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := broker.Connect(ctx, config.NATS{URL: proxy.URL}, e.log(), broker.WithPing(200*time.Millisecond, 2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close) // after the service has drained (cleanups run last first)
	s := e.startWith(service.Options{Version: "test", Broker: b})
	h := s.Handler()

	e.publish("before", 20)
	waitFor(t, 15*time.Second, "the rows published before the partition accepted", func() bool { return e.sandbox.AcceptedCount() == 20 })
	waitFor(t, 5*time.Second, "/readyz 200 before the partition", func() bool { code, _ := get(t, h, "/readyz"); return code == http.StatusOK })

	proxy.Partition()
	e.publish("during", 20) // straight to the server: the rows stream keeps them
	var body string
	waitFor(t, 45*time.Second, "/readyz 503 during the partition", func() bool {
		var code int
		code, body = get(t, h, "/readyz")
		return code == http.StatusServiceUnavailable
	})
	if !strings.Contains(body, "NATS is") {
		t.Errorf("/readyz body = %q, want it to say NATS is not connected", body)
	}
	waitFor(t, 45*time.Second, "the partition logged", func() bool {
		return strings.Contains(e.logs.String(), "the connection is cut off (a network partition?)")
	})

	proxy.Heal()
	waitFor(t, 45*time.Second, "/readyz 200 after the partition healed", func() bool { code, _ := get(t, h, "/readyz"); return code == http.StatusOK })
	waitFor(t, 30*time.Second, "every row accepted", func() bool { return e.sandbox.AcceptedCount() == 40 })
	rows := service.Topology(e.cfg).Names.RowsStream
	waitFor(t, 30*time.Second, "the rows stream empty (every row acked)", func() bool {
		st, err := e.js.Stream(context.Background(), rows)
		if err != nil {
			return false
		}
		info, err := st.Info(context.Background())
		return err == nil && info.State.Msgs == 0
	})
	ids := map[string]bool{}
	for _, a := range e.sandbox.Accepted() {
		ids[a.EventID] = true
	}
	if len(ids) != 40 {
		t.Errorf("TikTok holds %d distinct events, want the 40 published", len(ids))
	}
	if n := s.Worker.Stats().Total.DeadLetteredTotal(); n != 0 {
		t.Errorf("%d rows dead-lettered because of a partition", n)
	}
}
