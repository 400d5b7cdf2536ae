package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/service"
)

// natsCheck is one line of validate's NATS checks.
type natsCheck struct {
	name string // "nats", "jetstream", "topology"
	ok   bool
	msg  string
}

// checkNATS checks, read-only, what `worker run` needs of NATS: the server answers,
// JetStream is on for the account, and the topology (rows stream, DLQ stream, one
// consumer per destination) is present or can be created. It never starts an embedded
// server: with no nats.url there is nothing to reach, and validate must not create a
// store.
func checkNATS(ctx context.Context, cfg *config.Config, timeout time.Duration) []natsCheck {
	if strings.TrimSpace(cfg.NATS.URL) == "" {
		dir := cfg.NATS.DataDir
		if dir == "" {
			dir = broker.DefaultDataDir
		}
		return []natsCheck{{name: "nats", ok: true, msg: fmt.Sprintf("no nats.url (nor NATS_URL): `worker run` starts an embedded JetStream server over %s", dir)}}
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	b, err := broker.Connect(cctx, cfg.NATS, zerolog.Nop())
	if err != nil {
		return []natsCheck{{name: "nats", msg: err.Error()}}
	}
	defer b.Close()
	out := []natsCheck{{name: "nats", ok: true, msg: fmt.Sprintf("reachable at %s (server %s, version %s)",
		b.NC.ConnectedUrlRedacted(), b.NC.ConnectedServerName(), b.NC.ConnectedServerVersion())}}

	acct, err := b.JS.AccountInfo(cctx)
	if err != nil {
		msg := fmt.Sprintf("not available to this account: %v (start the server with -js, or enable JetStream for the account)", err)
		if !errors.Is(err, jetstream.ErrJetStreamNotEnabled) && !errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			msg = fmt.Sprintf("account info: %v", err)
		}
		return append(out, natsCheck{name: "jetstream", msg: msg})
	}
	out = append(out, natsCheck{name: "jetstream", ok: true, msg: fmt.Sprintf("on (%d streams, %d consumers in the account)", acct.Streams, acct.Consumers)})
	return append(out, checkTopology(cctx, b.JS, service.Topology(cfg), acct))
}

// checkTopology says which streams and consumers of t exist and whether the missing
// ones can be created within the account's limits.
func checkTopology(ctx context.Context, js jetstream.JetStream, t broker.Topology, acct *jetstream.AccountInfo) natsCheck {
	var present, missing []string
	newStreams, newConsumers := 0, 0
	rowsExists := false
	for _, name := range []string{t.Names.RowsStream, t.Names.DLQStream} {
		_, err := js.Stream(ctx, name)
		switch {
		case err == nil:
			present = append(present, name)
			rowsExists = rowsExists || name == t.Names.RowsStream
		case errors.Is(err, jetstream.ErrStreamNotFound):
			missing = append(missing, name)
			newStreams++
		default:
			return natsCheck{name: "topology", msg: fmt.Sprintf("looking up stream %s: %v (do the credentials allow it?)", name, err)}
		}
	}
	for _, d := range t.Destinations {
		c := t.Names.ConsumerName(d)
		if rowsExists {
			_, err := js.Consumer(ctx, t.Names.RowsStream, c)
			if err == nil {
				present = append(present, c)
				continue
			}
			if !errors.Is(err, jetstream.ErrConsumerNotFound) {
				return natsCheck{name: "topology", msg: fmt.Sprintf("looking up consumer %s: %v (do the credentials allow it?)", c, err)}
			}
		}
		missing = append(missing, c)
		newConsumers++
	}
	l := acct.Limits
	switch {
	case l.MaxStreams > 0 && acct.Streams+newStreams > l.MaxStreams:
		return natsCheck{name: "topology", msg: fmt.Sprintf("missing %s, and the account allows %d streams (%d used): raise the limit or free streams", strings.Join(missing, ", "), l.MaxStreams, acct.Streams)}
	case l.MaxConsumers > 0 && acct.Consumers+newConsumers > l.MaxConsumers:
		return natsCheck{name: "topology", msg: fmt.Sprintf("missing %s, and the account allows %d consumers (%d used): raise the limit or free consumers", strings.Join(missing, ", "), l.MaxConsumers, acct.Consumers)}
	case len(missing) == 0:
		return natsCheck{name: "topology", ok: true, msg: "present: " + strings.Join(present, ", ")}
	case len(present) == 0:
		return natsCheck{name: "topology", ok: true, msg: "not created yet; `worker run` creates " + strings.Join(missing, ", ")}
	default:
		return natsCheck{name: "topology", ok: true, msg: fmt.Sprintf("present: %s; `worker run` creates %s", strings.Join(present, ", "), strings.Join(missing, ", "))}
	}
}
