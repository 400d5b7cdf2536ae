package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/trace"
)

func (a *app) traceCmd() *cobra.Command {
	var (
		tf          toolFlags
		destination string
		asJSON      bool
		scanDLQ     int
		scanRows    int
	)
	cmd := &cobra.Command{
		Use:   "trace --destination NAME EVENT_ID…",
		Short: "Show where each event id is: sent, dead-lettered, waiting, or unknown",
		Long: `For each event id of one destination, every place it is known:

  sent           TikTok accepted it: when, TikTok's request id (from the sent log)
  dead_lettered  in the DLQ: reason, error, when, and the letter's sequence
                 (for worker dlq replay or worker dlq rm)
  waiting        in the rows stream: how many messages hold it, and whether each was
                 delivered to the destination's consumer and awaits its ack
  unknown        none of these

An id can be in several places (sent, and a re-published copy waiting). trace only
reads, and it is bounded so that it answers in well under a second however much is
remembered: the sent log is an indexed lookup per id; the DLQ is read from its newest
--scan-dlq letters on (the destination's subject only, ~50,000 letters a second); the
rows stream is read from the oldest waiting message on, at most --scan-rows messages of
the destination, one get each without a consumer (~10,000 a second). The output says
how much of each it read; raise a bound when it says an older letter or a later
message was not read.

JetStream counts deliveries per consumer and tells a message's count only to the
consumer receiving it: trace reports delivered (awaiting ack) or not yet delivered,
and how many messages the consumer is redelivering.

Exit 0 when every id was looked up (found or not), 1 when a lookup failed.`,
		Example: `  worker trace --config worker.yaml --destination stores order-1001 order-1002
  worker trace --config worker.yaml --destination web --json evt-42 | jq .places`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			if !broker.ValidDestination(destination) {
				return fmt.Errorf("--destination %q: want the name of a destination (one token of letters, digits, - and _)", destination)
			}
			for i, id := range ids {
				if strings.TrimSpace(id) == "" {
					return fmt.Errorf("event id %d is empty", i+1)
				}
			}
			if scanDLQ < 1 || scanRows < 1 {
				return fmt.Errorf("--scan-dlq %d, --scan-rows %d: want at least 1 each", scanDLQ, scanRows)
			}
			cfg, err := a.loadTool(cmd, tf)
			if err != nil {
				return err
			}
			if err := checkConfiguredDestination(cfg, "--destination", destination); err != nil {
				return err
			}
			ctx, c, err := a.connectTool(cmd, cfg)
			if err != nil {
				return err
			}
			defer c.b.Close()
			sent, closeSent, err := a.sentLookup(ctx, c, destination)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			defer closeSent()
			results, cov, err := trace.Trace(ctx, c.b.JS, destination, ids, trace.Options{Names: c.names, Sent: sent, ScanDLQ: scanDLQ, ScanRows: scanRows})
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			if asJSON {
				return printTraceJSON(cmd.OutOrStdout(), results, cov)
			}
			return printTrace(cmd.OutOrStdout(), c.names.RowsSubject(destination), results, cov, scanDLQ)
		},
	}
	tf.register(cmd)
	cmd.Flags().StringVar(&destination, "destination", "", "destination `NAME` the events were published for (required)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per event id")
	cmd.Flags().IntVar(&scanDLQ, "scan-dlq", trace.DefaultScanDLQ, "read the newest `N` letters of the DLQ")
	cmd.Flags().IntVar(&scanRows, "scan-rows", trace.DefaultScanRows, "read the destination's first `N` waiting messages of the rows stream")
	_ = cmd.MarkFlagRequired("destination")
	return cmd
}

// sentLookup is the sent log trace reads: the one a.openSent opens when set (tests),
// else the configuration's sent log, read for this one destination (an ordered
// consumer of its subject only; nothing is written). close stops following it.
func (a *app) sentLookup(ctx context.Context, c *toolConn, dest string) (l trace.SentLookup, close func(), err error) {
	if a.openSent != nil {
		l, err := a.openSent(ctx, c)
		return l, func() {}, err
	}
	log, err := dedup.OpenSentLog(ctx, c.b.JS, c.names, []string{dest})
	if err != nil {
		return nil, nil, err
	}
	if err := log.WaitCaughtUp(ctx); err != nil {
		log.Close()
		return nil, nil, fmt.Errorf("reading the sent log: %w", err)
	}
	return log, log.Close, nil
}

func printTraceJSON(out io.Writer, results []trace.Result, cov trace.Coverage) error {
	enc := json.NewEncoder(out)
	for _, r := range results {
		r.EventID = escapeUTF8(r.EventID)
		for i := range r.DeadLettered {
			r.DeadLettered[i].Error = escapeUTF8(r.DeadLettered[i].Error)
		}
		if err := enc.Encode(struct {
			trace.Result
			Coverage trace.Coverage `json:"coverage"`
		}{r, cov}); err != nil {
			return err
		}
	}
	return nil
}

func printTrace(out io.Writer, subject string, results []trace.Result, cov trace.Coverage, scan int) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT ID\tPLACE\tDETAILS")
	for _, r := range results {
		id := cell(r.EventID, 40)
		for _, s := range r.Sent {
			d := "accepted " + s.AcceptedAt.Format(time.RFC3339)
			if s.Event != "" {
				d = s.Event + " " + d
			}
			if s.RequestID != "" {
				d += ", TikTok request id " + s.RequestID
			}
			if s.Seq > 0 {
				d += fmt.Sprintf(" (sent log record %d)", s.Seq)
			}
			fmt.Fprintf(tw, "%s\tsent\t%s\n", id, d)
		}
		for _, l := range r.DeadLettered {
			d := fmt.Sprintf("%s at %s, DLQ seq %d", l.Reason, l.FailedAt.Format(time.RFC3339), l.Seq)
			if l.Code != 0 {
				d += ", TikTok code " + strconv.Itoa(l.Code)
			}
			if l.Error != "" {
				d += ": " + cell(l.Error, 80)
			}
			fmt.Fprintf(tw, "%s\tdead-lettered\t%s\n", id, d)
		}
		if w := r.Waiting; w != nil {
			parts := make([]string, len(w.Copies))
			for i, c := range w.Copies {
				state := "not yet delivered"
				if c.Delivered {
					state = "delivered, awaiting ack"
				}
				parts[i] = fmt.Sprintf("seq %d (%d rows, published %s, %s)", c.Seq, c.Rows, c.Published.Format(time.RFC3339), state)
			}
			fmt.Fprintf(tw, "%s\twaiting\t%d %s in %s: %s; the consumer is redelivering %d messages\n", id, len(w.Copies),
				plural(len(w.Copies), "copy", "copies"), subject, strings.Join(parts, ", "), w.Redelivering)
		}
		if len(r.Places) == 1 && r.Places[0] == trace.PlaceUnknown {
			fmt.Fprintf(tw, "%s\tunknown\tnot in what was read (below)\n", id)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	sentLog := "the sent log (indexed: every accepted event it remembers)"
	if !cov.SentLog {
		sentLog = "no sent log"
	}
	dlqPart := fmt.Sprintf("all %d dead letters of the destination", cov.DLQScanned)
	if !cov.DLQComplete {
		dlqPart = fmt.Sprintf("the destination's %d letters among the newest %d of the DLQ (older ones not read; --scan-dlq reads more)", cov.DLQScanned, scan)
	}
	rowsPart := fmt.Sprintf("all %d messages waiting on %s", cov.RowsScanned, subject)
	if !cov.RowsComplete {
		rowsPart = fmt.Sprintf("the first %d of %d messages waiting on %s (later ones not read; --scan-rows reads more)", cov.RowsScanned, cov.RowsWaiting, subject)
	}
	_, err := fmt.Fprintf(out, "\nread: %s; %s; %s\n", sentLog, dlqPart, rowsPart)
	return err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
