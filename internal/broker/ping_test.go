package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
)

// The production ping settings notice a partition within 45 s (issue 10), not the
// client's default two minutes and more, and Connect uses them unless told otherwise.
func TestPingDefaultsNoticeAPartitionWithin45s(t *testing.T) {
	if d := broker.StaleAfter(broker.DefaultPingInterval, broker.DefaultMaxPingsOut); d > 45*time.Second {
		t.Fatalf("a partition goes unnoticed for up to %s, want ≤ 45s", d)
	}
	if d := broker.StaleAfter(nats.DefaultPingInterval, nats.DefaultMaxPingOut); d <= 45*time.Second {
		t.Fatalf("nats.go's defaults notice a partition within %s: this test no longer shows why the settings exist", d)
	}
	srv := natstest.RunServer(t)
	cases := []struct {
		name     string
		opts     []broker.Option
		interval time.Duration
		maxOut   int
	}{
		{"defaults", nil, broker.DefaultPingInterval, broker.DefaultMaxPingsOut},
		{"WithPing", []broker.Option{broker.WithPing(time.Second, 5)}, time.Second, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b, err := broker.Connect(ctx, config.NATS{URL: srv.ClientURL()}, zerolog.Nop(), tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if b.NC.Opts.PingInterval != tc.interval || b.NC.Opts.MaxPingsOut != tc.maxOut {
				t.Fatalf("ping every %s, %d outstanding; want %s, %d", b.NC.Opts.PingInterval, b.NC.Opts.MaxPingsOut, tc.interval, tc.maxOut)
			}
		})
	}
}

// A connection cut off by a partition (open, silent) is declared stale and logged,
// not ready meanwhile, and reconnected once bytes pass again.
func TestPartitionIsNoticedAndHealed(t *testing.T) {
	srv := natstest.RunServer(t)
	proxy := natstest.NewProxy(t, srv.Addr().String())
	log := newLogSink()
	b, err := broker.Connect(ctxT(t, 10*time.Second), config.NATS{URL: proxy.URL}, log.logger(), broker.WithPing(100*time.Millisecond, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	proxy.Partition()
	log.waitFor(t, "the connection is cut off (a network partition?)", 45*time.Second)
	if st := b.NC.Status(); st == nats.CONNECTED {
		t.Fatalf("status %s after the stale connection was logged", st)
	}
	proxy.Heal()
	log.waitFor(t, "reconnected to NATS", 45*time.Second)
	if err := b.NC.FlushTimeout(5 * time.Second); err != nil || b.NC.Status() != nats.CONNECTED {
		t.Fatalf("after healing: %s, %v", b.NC.Status(), err)
	}
}
