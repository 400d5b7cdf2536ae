package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
)

// toolConn is what the operator tools (dlq, publish, trace) work with.
type toolConn struct {
	cfg   *config.Config
	b     *broker.Broker
	names broker.Names
}

// toolFlags are the connection flags every operator tool shares.
type toolFlags struct {
	config   string
	embedded bool
}

func (f *toolFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "YAML configuration `FILE` (NATS, the subject prefix and the destinations), as worker run uses it")
	fl.BoolVar(&f.embedded, "embedded", false, "with neither --config nor NATS_URL: use an embedded JetStream server over ./data (what worker run without a configuration uses)")
}

// errNoNATS is the usage error of a tool that was told of no NATS at all: it would
// otherwise start an embedded server over a fresh ./data, publish or look there, and
// succeed at something no worker sees.
func errNoNATS(cmd string) error {
	return &exitError{code: 2, err: fmt.Errorf("%s: no NATS server given: pass --config FILE (the workers' configuration, with nats.url), "+
		"or set NATS_URL=nats://host:4222, or pass --embedded to use a local embedded JetStream store under ./data", cmd)}
}

// loadTool loads the configuration of a tool (defaults when no --config) and refuses
// to go on when neither a configuration, NATS_URL nor --embedded says where NATS is.
func (a *app) loadTool(cmd *cobra.Command, f toolFlags) (*config.Config, error) {
	if f.config == "" && strings.TrimSpace(os.Getenv("NATS_URL")) == "" && !f.embedded {
		return nil, errNoNATS(cmd.CommandPath())
	}
	cfg, err := config.Load(f.config, os.Getenv)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	return cfg, nil
}

// connectTool connects cmd to the NATS of cfg and returns cmd's context with the
// connection, which the caller closes (c.b.Close); a failure is exit 1.
func (a *app) connectTool(cmd *cobra.Command, cfg *config.Config) (context.Context, *toolConn, error) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	c, err := a.toolConnect(ctx, cfg)
	if err != nil {
		return nil, nil, &exitError{code: 1, err: err}
	}
	return ctx, c, nil
}

// toolConnect connects to the NATS of cfg (an embedded server over the data directory
// when no URL is configured, as `run` does) and derives the topology's names from the
// subject prefix.
func (a *app) toolConnect(ctx context.Context, cfg *config.Config) (*toolConn, error) {
	// The broker's info lines (connected, …) are noise for a one-shot tool; warnings
	// and errors still show.
	log := zerolog.New(zerolog.ConsoleWriter{Out: a.stderr, NoColor: true, PartsExclude: []string{zerolog.TimestampFieldName}}).
		Level(zerolog.WarnLevel)
	b, err := broker.Connect(ctx, cfg.NATS, log)
	if err != nil {
		return nil, err
	}
	if b.Embedded != nil {
		dir := cfg.NATS.DataDir
		if dir == "" {
			dir = broker.DefaultDataDir
		}
		fmt.Fprintf(a.stderr, "no NATS URL configured: using an embedded JetStream server over %s (stop `worker run` first if it uses the same directory)\n", dir)
	}
	return &toolConn{cfg: cfg, b: b, names: broker.NamesFor(cfg.NATS.SubjectPrefix)}, nil
}

// destinationNames lists the configured destinations' names.
func destinationNames(cfg *config.Config) []string {
	out := make([]string, 0, len(cfg.Destinations))
	for _, d := range cfg.Destinations {
		out = append(out, d.Name)
	}
	return out
}

// checkConfiguredDestination refuses a destination the configuration does not list,
// when it lists any: its rows would wait in the stream with no consumer.
func checkConfiguredDestination(cfg *config.Config, flag, dest string) error {
	names := destinationNames(cfg)
	if len(names) == 0 || slices.Contains(names, dest) {
		return nil
	}
	return &exitError{code: 2, err: fmt.Errorf("%s %q is not a destination of the configuration (it has %s): no worker consumes %s; check the name or the --config file",
		flag, dest, strings.Join(names, ", "), broker.NamesFor(cfg.NATS.SubjectPrefix).RowsSubject(dest))}
}
