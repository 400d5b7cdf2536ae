package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/demo"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/sampledata"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/service"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

func (a *app) demoCmd() *cobra.Command {
	var (
		rows     int
		replicas int
		verbose  bool
		timeout  time.Duration
		keep     string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole pipeline on embedded NATS, the sandbox API and sample rows",
		Long: `demo starts an embedded JetStream server (in a temporary directory), the sandbox
TikTok API, publishes ~10,000 sample rows — with duplicates, invalid rows, old and future
timestamps, malformed messages, a poison event the sandbox refuses and a burst of HTTP
503s — and delivers them with two worker replicas. It ends with a summary of what was
sent, duplicate and dead-lettered, and exits non-zero if the numbers do not add up.

The row counts are the same on every run; the number of requests, retries and full
batches varies with timing (when each replica fetches, when max_wait cuts a partial
batch, which request meets the 503 burst).

With --data-dir DIR the store is kept, with DIR/demo-config.yaml beside it, so that
worker dlq ls|stats|replay --config DIR/demo-config.yaml can look at the dead letters.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir := keep
			if dir == "" {
				tmp, err := os.MkdirTemp("", "tiktok-events-worker-demo-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				dir = tmp
			} else if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
				return &exitError{code: 2, err: fmt.Errorf("--data-dir %s is not empty; the demo needs a fresh store (remove it or choose another)", dir)}
			}
			log := zerolog.Nop()
			if verbose {
				log, _ = service.NewLogger(config.Log{Level: "info", Format: "auto"}, a.stderr)
			}
			mix := scaledMix(rows)
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "publishing %d sample rows to an embedded JetStream server; delivering with %d replicas to the sandbox API…\n", mix.Rows(), replicas)
			rep, err := demo.Run(cmd.Context(), demo.Options{
				Mix: mix, DataDir: dir, Replicas: replicas, Timeout: timeout, Log: log, Version: version,
			})
			rep.Print(out)
			if keep != "" {
				cfgPath := filepath.Join(dir, "demo-config.yaml")
				if werr := os.WriteFile(cfgPath, demoConfig(dir), 0o644); werr == nil {
					fmt.Fprintf(out, "\nThe JetStream store is kept in %s. Inspect and replay the dead letters with:\n  worker dlq stats --config %s\n  worker dlq ls --config %s --reason invalid_row\n", dir, cfgPath, cfgPath)
				}
			}
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&rows, "rows", 0, "about how many sample rows to publish (default ~10,000)")
	cmd.Flags().IntVar(&replicas, "replicas", 2, "worker replicas to run in this process")
	cmd.Flags().BoolVar(&verbose, "verbose", false, "show the workers' logs on stderr")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "give up if the rows are not all settled by then")
	cmd.Flags().StringVar(&keep, "data-dir", "", "keep the JetStream store in this new or empty `DIR`, to inspect the dead letters afterwards with worker dlq")
	return cmd
}

// scaledMix is the default mix scaled to about rows rows (0: the default ~10,000),
// every kind of problem kept at least once so that each path of the pipeline shows.
func scaledMix(rows int) sampledata.Mix {
	mix := sampledata.DefaultMix
	if rows <= 0 || rows == mix.Rows() {
		return mix
	}
	scale := float64(rows) / float64(mix.Rows())
	for _, n := range []*int{&mix.Good, &mix.LineItems, &mix.Duplicates, &mix.Invalid, &mix.Old, &mix.Future, &mix.Malformed} {
		*n = max(int(float64(*n)*scale+0.5), 1)
	}
	return mix
}

// demoConfig is the configuration the demo leaves beside a kept store: its data
// directory and its destination, so that worker dlq (replay included, which needs to
// know the destinations consumed) works on it.
func demoConfig(dir string) []byte {
	return fmt.Appendf(nil, `# written by worker demo: the kept store, for worker dlq
nats:
  data_dir: %s
destinations:
  - name: %s
    advertiser_id: "%s"
    event_source: offline
    event_source_id: "%s"
    fixed_event_name: Purchase
`, dir, demo.Destination, tiktoktest.DefaultAdvertiserID, tiktoktest.DefaultEventSetID)
}
