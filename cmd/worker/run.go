package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/service"
)

func (a *app) runCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the queue worker",
		Long: `run consumes rows from NATS JetStream and delivers them to the TikTok Events API
for every configured destination, until SIGTERM or SIGINT, then drains (stops pulling,
finishes or hands back what is in flight) within delivery.drain_timeout.

With no NATS URL (nats.url or NATS_URL), it starts an embedded JetStream server storing
under nats.data_dir and says so. It serves /healthz, /readyz and /metrics on http.listen.
A destination whose connection check fails starts paused and is probed again; run does
not crash-loop on a credential or configuration problem.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath, os.Getenv)
			if err != nil {
				return err
			}
			log, err := service.NewLogger(cfg.Log, a.stderr)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			s, err := service.New(ctx, cfg, log, service.Options{Version: version})
			if err != nil {
				return err
			}
			defer s.Close()
			for _, w := range cfg.Warnings() {
				log.Warn().Msg(w)
			}
			log.Info().Int("destinations", len(cfg.Destinations)).Str("version", version).Msg("worker running")
			return s.Run(ctx)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "YAML configuration file (docs/configuration.md); every key has a default")
	return cmd
}
