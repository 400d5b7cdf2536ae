package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

type sandboxOptions struct {
	addr        string
	latency     time.Duration
	errorRate   float64
	seed        uint64
	rateLimit   int
	tokens      []string
	advertisers []string
	pixels      []string
	eventSets   []string
	maxRecorded int
}

func (a *app) sandboxCmd() *cobra.Command {
	var o sandboxOptions
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run the fake TikTok Events API as a standalone server",
		Long: `Run the TikTok Events API stand-in (package tiktoktest) on --addr until stopped.

It answers as TikTok does on /open_api/v1.3/event/track/, advertiser/info/, pixel/list/,
offline/get/, offline/update/ and oauth2/refresh_token/ (app ` + tiktoktest.DefaultAppID + `, secret
` + tiktoktest.DefaultAppSecret + `, refresh token ` + tiktoktest.DefaultRefreshToken + `), and serves two read-only views:
GET /sandbox/accepted (the newest accepted events, ?limit=N) and GET /sandbox/stats
(requests, accepted, deduplicated, answers by code). Every --pixel and --event-set
belongs to every --advertiser-id.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.sandbox(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:9090", "listen address")
	f.DurationVar(&o.latency, "latency", 0, "delay every API answer by this long")
	f.Float64Var(&o.errorRate, "error-rate", 0, "share of /event/track/ requests answered HTTP 503 (0..1)")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the --error-rate draws (the same seed fails the same requests)")
	f.IntVar(&o.rateLimit, "rate-limit", 0, "answer 40100 to /event/track/ requests above this many per second (0: no limit)")
	f.StringArrayVar(&o.tokens, "token", []string{tiktoktest.DefaultToken}, "accepted access token (repeatable)")
	f.StringArrayVar(&o.advertisers, "advertiser-id", []string{tiktoktest.DefaultAdvertiserID}, "known advertiser id (repeatable)")
	f.StringArrayVar(&o.pixels, "pixel", []string{tiktoktest.DefaultPixelCode}, "known Pixel code, for web events (repeatable)")
	f.StringArrayVar(&o.eventSets, "event-set", []string{tiktoktest.DefaultEventSetID}, "known offline event set id (repeatable)")
	f.IntVar(&o.maxRecorded, "max-recorded", 100_000, "accepted events kept for /sandbox/accepted (counts stay exact)")
	return cmd
}

func (a *app) sandbox(ctx context.Context, o sandboxOptions) error {
	if o.errorRate < 0 || o.errorRate > 1 {
		return fmt.Errorf("--error-rate %v: must be between 0 and 1", o.errorRate)
	}
	if len(o.tokens) == 0 || len(o.advertisers) == 0 {
		return errors.New("--token and --advertiser-id need at least one value each")
	}
	log := zerolog.New(a.stderr).With().Timestamp().Str("component", "sandbox").Logger()
	srv := tiktoktest.New(tiktoktest.WithoutDefaults(), tiktoktest.WithLatency(o.latency),
		tiktoktest.WithErrorRate(o.errorRate, o.seed), tiktoktest.WithRateLimit(o.rateLimit),
		tiktoktest.WithMaxRecorded(o.maxRecorded))
	for _, t := range o.tokens {
		srv.AddToken(t)
	}
	for _, adv := range o.advertisers {
		srv.AddAdvertiser(adv)
		for _, p := range o.pixels {
			srv.AddPixel(adv, p)
		}
		for _, s := range o.eventSets {
			srv.AddOfflineEventSet(adv, s)
		}
	}
	srv.AddApp(tiktoktest.DefaultAppID, tiktoktest.DefaultAppSecret, tiktoktest.DefaultRefreshToken)

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("sandbox: listening on --addr %s: %w", o.addr, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	url := "http://" + ln.Addr().String()
	// Never the tokens: how many, not which.
	log.Info().Str("url", url).Int("tokens", len(o.tokens)).Strs("advertisers", o.advertisers).
		Strs("pixels", o.pixels).Strs("event_sets", o.eventSets).Dur("latency", o.latency).
		Float64("error_rate", o.errorRate).Int("rate_limit", o.rateLimit).Msg("sandbox listening")
	fmt.Fprintf(a.stdout, "sandbox listening on %s (stats: %s%s)\n", url, url, tiktoktest.StatsPath)

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("sandbox: %w", err)
	case <-ctx.Done():
	}
	srv.Close() // release hanging requests first, so Shutdown does not wait on them
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("sandbox: shutting down: %w", err)
	}
	st := srv.Stats()
	log.Info().Int("requests", st.Requests).Int("accepted", st.Accepted).Int("deduplicated", st.Deduplicated).Msg("sandbox stopped")
	return nil
}
