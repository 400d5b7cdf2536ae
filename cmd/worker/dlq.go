package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
)

// dlqFlags are the filter flags shared by ls, stats and replay.
type dlqFlags struct {
	tool        toolFlags
	destination string
	reason      string
	since       string
	limit       int
	json        bool
	dryRun      bool
}

func (f *dlqFlags) register(cmd *cobra.Command, withLimit bool, defaultLimit int) {
	f.tool.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.destination, "destination", "", "only this destination's letters")
	fl.StringVar(&f.reason, "reason", "", "only this reason: "+strings.Join(dlq.Reasons(), ", "))
	fl.StringVar(&f.since, "since", "", "only letters stored since an RFC 3339 time, or within the last duration (24h, 90m, 7d)")
	if withLimit {
		fl.IntVar(&f.limit, "limit", defaultLimit, "at most this many letters (0: all)")
	}
}

// filter turns the flags into a dlq.Filter; every error names its flag.
func (f *dlqFlags) filter(now time.Time) (dlq.Filter, error) {
	out := dlq.Filter{Destination: f.destination, Reason: f.reason, Limit: f.limit}
	if f.reason != "" && !dlq.ValidReason(f.reason) {
		return out, fmt.Errorf("--reason %q: not a dead-letter reason; use one of %s", f.reason, strings.Join(dlq.Reasons(), ", "))
	}
	if f.destination != "" && !broker.ValidDestination(f.destination) {
		return out, fmt.Errorf("--destination %q: a destination name is one subject token (no dots, spaces or wildcards)", f.destination)
	}
	if f.limit < 0 {
		return out, fmt.Errorf("--limit %d: must be 0 (all) or more", f.limit)
	}
	if f.since != "" {
		t, err := parseSince(f.since, now)
		if err != nil {
			return out, err
		}
		out.Since = t
	}
	return out, nil
}

// parseSince reads --since: an RFC 3339 time, or a duration meaning "within the last"
// (Go durations, plus whole days as "7d").
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil && strings.HasSuffix(s, "d") {
		if n, aerr := strconv.Atoi(strings.TrimSuffix(s, "d")); aerr == nil {
			d, err = time.Duration(n)*24*time.Hour, nil
		}
	}
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("--since %q: use an RFC 3339 time (2025-11-24T10:00:00Z) or a positive duration (24h, 90m, 7d)", s)
	}
	return now.Add(-d), nil
}

func (a *app) dlqCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect, replay and remove dead-lettered rows",
		Long: `Inspect, replay and remove the dead letters: rows that could not be delivered,
stored on <prefix>.dlq.<destination> with the reason in Dlq-* headers.

  worker dlq ls      list letters (a table, or --json with the bodies)
  worker dlq stats   count them by destination and reason, with the oldest and newest
  worker dlq replay  republish them to their rows subject and remove them from the DLQ
  worker dlq rm      remove letters that cannot be fixed

Every subcommand takes --config (the workers' configuration), or NATS_URL, or
--embedded for the store under ./data.`,
	}
	groupCommand(cmd)
	cmd.AddCommand(a.dlqLsCmd(), a.dlqStatsCmd(), a.dlqReplayCmd(), a.dlqRmCmd())
	return cmd
}

// withDLQ loads the configuration, connects and runs fn with the connection and the
// filter of the flags.
func (a *app) withDLQ(cmd *cobra.Command, f *dlqFlags, fn func(ctx context.Context, c *toolConn, filter dlq.Filter) error) error {
	filter, err := f.filter(time.Now())
	if err != nil {
		return err
	}
	cfg, err := a.loadTool(cmd, f.tool)
	if err != nil {
		return err
	}
	ctx, c, err := a.connectTool(cmd, cfg)
	if err != nil {
		return err
	}
	defer c.b.Close()
	if err := fn(ctx, c, filter); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return err
		}
		return &exitError{code: 1, err: err}
	}
	return nil
}

func (a *app) dlqLsCmd() *cobra.Command {
	var f dlqFlags
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List dead letters, oldest first",
		Long: `List dead letters, oldest first, as a table: SEQ, FAILED AT, DESTINATION, REASON,
EVENT ID (the body's event_id), FIELD, CODE (TikTok's) and ERROR (truncated). The table
never shows a body or any other column of the row; --json prints one JSON object per
line with every header, the event_id and the body (its PII is already hashed).

The output is always valid UTF-8: a byte that is not UTF-8 (in a body or a header) is
written as the four characters \xNN (NN its hex value), and a JSON line whose body had
such bytes carries "body_escaped": true and the body as a string, since the escaped
text is no longer the stored bytes (replay still sends those, unchanged).`,
		Example: `  worker dlq ls --reason rejected --since 24h
  worker dlq ls --destination stores --limit 0 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withDLQ(cmd, &f, func(ctx context.Context, c *toolConn, filter dlq.Filter) error {
				return dlqList(ctx, c.b.JS, c.names, filter, f.json, cmd.OutOrStdout())
			})
		},
	}
	f.register(cmd, true, 100)
	cmd.Flags().BoolVar(&f.json, "json", false, "one JSON object per line, bodies included")
	return cmd
}

// entryJSON is an Entry for --json: the body inline when it is valid UTF-8 JSON, else
// a string with invalid bytes escaped (BodyEscaped says so).
type entryJSON struct {
	dlq.Entry
	Body        any  `json:"body"`
	BodyEscaped bool `json:"body_escaped,omitempty"`
}

// jsonEntry renders e for --json with every string valid UTF-8 (escapeUTF8).
func jsonEntry(e dlq.Entry) entryJSON {
	for _, s := range []*string{&e.Subject, &e.Destination, &e.Reason, &e.EventID, &e.Error, &e.Field, &e.TikTokReqID, &e.SourceSubject} {
		*s = escapeUTF8(*s)
	}
	out := entryJSON{Entry: e, Body: string(e.Body)}
	switch {
	case !utf8.Valid(e.Body):
		out.Body, out.BodyEscaped = escapeUTF8(string(e.Body)), true
	case json.Valid(e.Body):
		out.Body = json.RawMessage(e.Body)
	}
	return out
}

func dlqList(ctx context.Context, js jetstream.JetStream, names broker.Names, f dlq.Filter, asJSON bool, out io.Writer) error {
	entries, err := dlq.List(ctx, js, names, f)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(out)
		for _, e := range entries {
			if err := enc.Encode(jsonEntry(e)); err != nil {
				return err
			}
		}
		return nil
	}
	if len(entries) == 0 {
		_, err := fmt.Fprintln(out, "no dead letters match")
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tFAILED AT\tDESTINATION\tREASON\tEVENT ID\tFIELD\tCODE\tERROR")
	for _, e := range entries {
		code := ""
		if e.TikTokCode != 0 {
			code = strconv.Itoa(e.TikTokCode)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.FailedAt.Format(time.RFC3339),
			cell(e.Destination, 32), cell(e.Reason, 20), cell(e.EventID, 36), cell(e.Field, 24), code, cell(e.Error, 60))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if f.Limit > 0 && len(entries) == f.Limit {
		fmt.Fprintf(out, "(first %d shown; --limit 0 lists all)\n", f.Limit)
	}
	return nil
}

// cell makes s fit one table cell: valid UTF-8, no tabs or newlines, at most n runes.
func cell(s string, n int) string {
	s = strings.Join(strings.Fields(escapeUTF8(s)), " ")
	if s == "" {
		return "-"
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func (a *app) dlqStatsCmd() *cobra.Command {
	var f dlqFlags
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Count dead letters by destination and reason, with the oldest, the newest and their match keys",
		Example: `  worker dlq stats
  worker dlq stats --since 7d --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withDLQ(cmd, &f, func(ctx context.Context, c *toolConn, filter dlq.Filter) error {
				return dlqStats(ctx, c.b.JS, c.names, filter, f.json, cmd.OutOrStdout())
			})
		},
	}
	f.register(cmd, false, 0)
	cmd.Flags().BoolVar(&f.json, "json", false, "one JSON object per destination and reason")
	return cmd
}

func dlqStats(ctx context.Context, js jetstream.JetStream, names broker.Names, f dlq.Filter, asJSON bool, out io.Writer) error {
	counts, err := dlq.Stats(ctx, js, names, f)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(out)
		for _, c := range counts {
			if err := enc.Encode(c); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DESTINATION\tREASON\tCOUNT\tOLDEST\tNEWEST\tMATCH KEYS")
	total := 0
	for _, c := range counts {
		total += c.Count
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", c.Destination, c.Reason, c.Count,
			c.Oldest.Format(time.RFC3339), c.Newest.Format(time.RFC3339), matchKeyShares(c))
	}
	fmt.Fprintf(tw, "total\t\t%d\n", total)
	return tw.Flush()
}

// matchKeyShares says which share of a count's letters carries each match key, in
// the order of events.MatchKeyNames: "email 100%, phone 50%"; "-" for none.
func matchKeyShares(c dlq.Count) string {
	var parts []string
	for _, k := range events.MatchKeyNames() {
		if n := c.MatchKeys[k]; n > 0 && c.Count > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f%%", k, 100*float64(n)/float64(c.Count)))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func (a *app) dlqReplayCmd() *cobra.Command {
	var f dlqFlags
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Republish dead letters to their rows subject and remove them from the DLQ",
		Long: `Republish each matching dead letter to <prefix>.rows.<destination>, and remove it
from the DLQ only once JetStream acknowledged the republish.

The rows of one event (letters of one destination that share an event_id and came
from one source message: an order's line items) go back together in ONE message, a
JSON array of their bodies, so that a corrected order is sent whole; every other
letter goes back byte for byte. --limit counts letters but never cuts an event.

Only destinations of the configuration replay (pass the workers' --config): a letter
of another destination, or whose subject holds a dot, stays in the DLQ and replay says
why (nothing would consume it).

Interrupting it is safe: a letter is then in the DLQ, in the rows stream, or (for at
most one message) in both, and running replay again finishes the job without a
duplicate (the republish carries a Nats-Msg-Id derived from its first letter's
sequence; the worker's event_id dedup covers the rest).

Every reason replays, malformed_message included: its body goes back as it came, so
unless the publisher was fixed it is dead-lettered again. Choose with --reason; look
first with --dry-run.`,
		Example: `  worker dlq replay --config worker.yaml --reason retries_exhausted --dry-run
  worker dlq replay --config worker.yaml --destination stores --reason rejected --since 2025-11-24T00:00:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withDLQ(cmd, &f, func(ctx context.Context, c *toolConn, filter dlq.Filter) error {
				consumed := destinationNames(c.cfg)
				if len(consumed) == 0 && !f.dryRun {
					return &exitError{code: 2, err: errors.New("replay needs the workers' configuration to know which destinations are consumed: pass --config with its destinations (a letter of a destination nothing consumes would wait in the rows stream forever)")}
				}
				return dlqReplay(ctx, c.b.JS, c.names, filter, f.dryRun, consumed, cmd.OutOrStdout(), a.stderr)
			})
		},
	}
	f.register(cmd, true, 0)
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "list what would be replayed; change nothing")
	return cmd
}

func dlqReplay(ctx context.Context, js jetstream.JetStream, names broker.Names, f dlq.Filter, dryRun bool, consumed []string, out, stderr io.Writer) error {
	verb := "republished"
	if dryRun {
		verb = "would republish"
	}
	opts := []dlq.ReplayOption{
		dlq.OnReplayed(func(msg []dlq.Entry) {
			e := msg[0]
			if len(msg) == 1 {
				fmt.Fprintf(out, "%s letter %d (%s, failed %s) to %s\n", verb, e.Seq, e.Reason,
					e.FailedAt.Format(time.RFC3339), names.RowsSubject(e.Destination))
				return
			}
			fmt.Fprintf(out, "%s %s, the %d rows of event %s (%s, failed %s), as one message to %s\n", verb, seqList(msg), len(msg),
				escapeUTF8(e.EventID), e.Reason, e.FailedAt.Format(time.RFC3339), names.RowsSubject(e.Destination))
		}),
		dlq.OnSkipped(func(e dlq.Entry, why string) {
			fmt.Fprintf(stderr, "left letter %d in the DLQ: %s\n", e.Seq, why)
		}),
	}
	if len(consumed) > 0 {
		opts = append(opts, dlq.Consumed(consumed))
	}
	rep, err := dlq.Replay(ctx, js, names, f, dryRun, opts...)
	switch {
	case dryRun:
		fmt.Fprintf(out, "dry run: %d letters would be replayed in %d messages; nothing changed\n", len(rep.Entries), rep.Messages)
	default:
		fmt.Fprintf(out, "replayed %d letters in %d messages\n", rep.Replayed, rep.Messages)
	}
	if rep.Skipped > 0 {
		fmt.Fprintf(out, "left %d letters in the DLQ: their destination is not consumed (see above)\n", rep.Skipped)
	}
	if err != nil && errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted: %w (run the same command again to replay the rest)", err)
	}
	return err
}
