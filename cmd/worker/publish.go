package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/publish"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/service"
)

// progressEvery is how often a non-terminal stderr gets a plain progress line.
const progressEvery = 10 * time.Second

func (a *app) publishCmd() *cobra.Command {
	var (
		tf          toolFlags
		destination string
		format      string
		maxPending  int
	)
	cmd := &cobra.Command{
		Use:   "publish FILE --destination NAME",
		Short: "Publish a CSV or JSON Lines file of rows to a destination",
		Long: `Publish a file of rows to <prefix>.rows.<destination>, the way upstream jobs should.

FILE is CSV with a header line, JSON Lines (one object per line) or a JSON array of
objects; "-" reads stdin. The format comes from the extension (.csv, .jsonl, .ndjson,
.json), else from the first byte; --format forces it. ` + "`worker preview`" + ` reads files the
same way. A CSV row becomes a JSON object of strings (empty cells omitted).
Consecutive rows that share an event_id (the line items of one order) go in one message
as a JSON array; every other row is a message of its own.

A JSON Lines line that is not valid JSON, or a CSV record with another number of
fields than the header, is published as it is (and named on stderr by its line): the
worker dead-letters it as malformed_message, where ` + "`worker dlq ls`" + ` shows it. Nothing
is dropped.

NATS is the one of --config (nats.url), else NATS_URL; with neither, publish refuses
to run unless --embedded asks for the embedded store under ./data, so that rows never
land silently in a store no worker reads. With --config, the destination must be one
of the configuration's (exit 2 otherwise).

When the rows stream does not exist yet (a fresh ./data, a new NATS server), publish
creates the streams, buckets and consumers of the configuration first, as ` + "`worker run`" + `
would; an existing topology is left as it is.

Publishes are asynchronous, and every one is acknowledged by JetStream before the
summary. The exit code is 1 when any publish failed, with the count in the summary.`,
		Example: `  worker publish orders.csv --destination stores --config worker.yaml
  NATS_URL=nats://127.0.0.1:4222 worker publish orders.csv --destination stores
  zcat events.jsonl.gz | worker publish - --destination web --config worker.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if destination == "" {
				return fmt.Errorf("--destination is required: the name of a destination (its rows go to <prefix>.rows.<name>)")
			}
			if !broker.ValidDestination(destination) {
				return fmt.Errorf("--destination %q: a destination name is one subject token of letters, digits, - and _ (no dots, spaces or wildcards)", destination)
			}
			f, err := publish.ParseFormat(format)
			if err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			cfg, err := a.loadTool(cmd, tf)
			if err != nil {
				return err
			}
			if err := checkConfiguredDestination(cfg, "--destination", destination); err != nil {
				return err
			}
			name := args[0]
			var in io.Reader = a.stdin
			if name != "-" {
				file, err := os.Open(name)
				if err != nil {
					return &exitError{code: 1, err: err}
				}
				defer file.Close()
				in = file
				if f == publish.FormatAuto {
					f = publish.FormatOf(name)
				}
			}
			ctx, c, err := a.connectTool(cmd, cfg)
			if err != nil {
				return err
			}
			defer c.b.Close()
			if err := a.ensureRows(ctx, c); err != nil {
				return &exitError{code: 1, err: err}
			}
			return a.publishFile(ctx, c.b.JS, c.names.RowsSubject(destination), in, f, maxPending)
		},
	}
	fl := cmd.Flags()
	tf.register(cmd)
	fl.StringVar(&destination, "destination", "", "destination `NAME`: rows go to <prefix>.rows.NAME (required)")
	fl.StringVar(&format, "format", "auto", "input format: auto, csv, jsonl or json")
	fl.IntVar(&maxPending, "max-pending", publish.DefaultMaxPending, "publishes awaiting their ack at once")
	return cmd
}

// ensureRows creates the topology of the configuration (rows stream, consumers,
// buckets, DLQ) when the rows stream does not exist yet, as on a fresh ./data: rows
// published before the first `worker run` then wait in the stream instead of failing.
// An existing topology is left alone: Ensure would also bring the settings it owns
// (max_ack_pending, ack_wait, replicas) in line with this configuration, and a
// publish, often run without the workers' --config, must not reconfigure a running
// fleet.
func (a *app) ensureRows(ctx context.Context, c *toolConn) error {
	_, err := c.b.JS.Stream(ctx, c.names.RowsStream)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("looking up the rows stream %s: %w", c.names.RowsStream, err)
	}
	topo := service.Topology(c.cfg)
	if err := broker.Ensure(ctx, c.b.JS, topo); err != nil {
		return fmt.Errorf("the rows stream %s does not exist and creating it failed: %w", c.names.RowsStream, err)
	}
	fmt.Fprintf(a.stderr, "created the rows stream %s (and the dead-letter stream and buckets) on %s: it did not exist yet\n",
		c.names.RowsStream, c.names.RowsFilter())
	return nil
}

// publishFile reads in and publishes it to subject, showing progress on stderr and
// the summary on stdout.
func (a *app) publishFile(ctx context.Context, js jetstream.JetStream, subject string, in io.Reader, f publish.Format, maxPending int) error {
	rd, err := publish.NewReader(in, f)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	progress, finish := a.publishProgress(subject)
	sum, err := publish.Publish(ctx, js, subject, warnUnreadable{rd, a.stderr}, publish.WithMaxPending(maxPending), publish.WithProgress(progress))
	finish()
	if err != nil && sum.Messages == 0 {
		return &exitError{code: 1, err: err} // nothing was sent: the error says it all
	}
	fmt.Fprintf(a.stdout, "published %d rows in %d messages to %s: %d acknowledged, %d failed (%d rows), %.0f rows/s in %s\n",
		sum.Rows, sum.Messages, subject, sum.Published, sum.Failed, sum.FailedRows, sum.RowsPerSecond(), sum.Elapsed.Round(time.Millisecond))
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	return nil
}

// warnUnreadable names on stderr each record the reader passes on as it came, by
// its line and what is wrong, never its values.
type warnUnreadable struct {
	src publish.Source
	w   io.Writer
}

func (s warnUnreadable) Next() (publish.Message, error) {
	m, err := s.src.Next()
	if err == nil && m.Err != "" {
		fmt.Fprintf(s.w, "line %d: %s; published as it is: the worker dead-letters it as malformed_message\n", m.Line, m.Err)
	}
	return m, err
}

// publishProgress shows a progress bar with a rate when stderr is a terminal, and a
// plain line every progressEvery otherwise (a log file or CI wants no escape codes
// and no carriage returns).
func (a *app) publishProgress(subject string) (progress func(publish.Summary), finish func()) {
	if f, ok := a.stderr.(*os.File); ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		bar := progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(a.stderr),
			progressbar.OptionSetDescription("publishing to "+subject),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("rows"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionClearOnFinish(),
		)
		last := 0
		return func(s publish.Summary) {
				_ = bar.Add(s.PublishedRows + s.FailedRows - last)
				last = s.PublishedRows + s.FailedRows
			}, func() {
				_ = bar.Finish()
			}
	}
	var mu sync.Mutex
	next := time.Now().Add(progressEvery)
	return func(s publish.Summary) {
		mu.Lock()
		defer mu.Unlock()
		if now := time.Now(); now.After(next) {
			next = now.Add(progressEvery)
			fmt.Fprintf(a.stderr, "publishing to %s: %d rows acknowledged, %d failed, %.0f rows/s\n",
				subject, s.PublishedRows, s.FailedRows, s.RowsPerSecond())
		}
	}, func() {}
}
