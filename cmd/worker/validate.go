package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/service"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
)

func (a *app) validateCmd() *cobra.Command {
	var path string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the configuration, NATS and each destination's connection",
		Long: `Load the configuration, then check, one line each:

  nats       the server of nats.url (or NATS_URL) answers
  jetstream  JetStream is on for the account
  topology   the rows and DLQ streams and each destination's consumer exist, or the
             account's limits let ` + "`worker run`" + ` create them (nothing is created here)
  <name>     per destination: the access token works, the advertiser is reachable,
             the event source (Pixel or offline event set) exists, and auto_tracking
             is set where asked

With no nats.url, the nats line says that ` + "`worker run`" + ` would start an embedded
server; validate starts none. Exit 0 when every check passes, 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.validate(cmd.Context(), path, timeout)
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "configuration file (YAML)")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long each check waits for NATS or retries a TikTok that does not answer")
	return cmd
}

func (a *app) validate(ctx context.Context, path string, timeout time.Duration) error {
	cfg, err := config.Load(path, os.Getenv)
	if err == nil {
		err = cfg.CheckRun()
	}
	if err != nil {
		fmt.Fprintf(a.stdout, "FAIL config  %v\n", err)
		return &exitError{code: 1, err: fmt.Errorf("the configuration is invalid: %w", err)}
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(a.stderr, "warning:", w)
	}
	width := len("topology")
	for _, d := range cfg.Destinations {
		width = max(width, len(d.Name))
	}
	failed := 0
	checks := checkNATS(ctx, cfg, timeout)
	for _, c := range checks {
		if c.ok {
			fmt.Fprintf(a.stdout, "ok   %-*s  %s\n", width, c.name, c.msg)
			continue
		}
		failed++
		fmt.Fprintf(a.stdout, "FAIL %-*s  %s\n", width, c.name, c.msg)
	}
	natsFailed := failed
	log := zerolog.New(zerolog.ConsoleWriter{Out: a.stderr, NoColor: true, PartsExclude: []string{zerolog.TimestampFieldName}}).
		Level(zerolog.WarnLevel)
	store := refreshTokenStore(cfg.TikTok, a.stderr)
	client, err := service.NewClient(cfg, store, log, version, tiktokclient.WithCheckMaxElapsed(timeout))
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	for _, d := range cfg.Destinations {
		t := service.Target(d)
		if err := client.Check(ctx, t); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failed++
			fmt.Fprintf(a.stdout, "FAIL %-*s  %v\n", width, d.Name, err)
			continue
		}
		line := t.Describe()
		if t.AutoTracking {
			line += ", auto_tracking on"
		}
		fmt.Fprintf(a.stdout, "ok   %-*s  %s\n", width, d.Name, line)
	}
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d NATS checks and %d of %d destinations failed", natsFailed, len(checks), failed-natsFailed, len(cfg.Destinations))}
	}
	return nil
}

// refreshTokenStore is where validate keeps a rotated refresh token: the refresh
// token file when one is configured (so the next run reads the new one), else memory,
// with a warning, because TikTok may retire the configured token once it rotated.
func refreshTokenStore(cfg config.TikTok, stderr io.Writer) tiktokclient.TokenStore {
	if cfg.AppID == "" {
		return nil
	}
	if cfg.RefreshTokenFile != "" {
		return tiktokclient.FileTokenStore{Path: cfg.RefreshTokenFile}
	}
	fmt.Fprintln(stderr, "warning: tiktok.refresh_token_file is not set: if TikTok rotates the refresh token during this check, the new one is not saved and the configured one may stop working")
	return &tiktokclient.MemoryTokenStore{}
}
