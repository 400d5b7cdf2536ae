package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
)

func (a *app) dlqRmCmd() *cobra.Command {
	var (
		f   dlqFlags
		all bool
	)
	cmd := &cobra.Command{
		Use:   "rm [SEQ…]",
		Short: "Remove dead letters that cannot be fixed",
		Long: `Remove dead letters from the DLQ for good: the letters with the given sequences (the
SEQ column of ` + "`worker dlq ls`" + `), or every letter matching the filters (--destination,
--reason, --since, --limit, as ls takes them). Each is removed by its sequence and
printed as it goes; --dry-run prints what would go and removes nothing.

Without a SEQ or a filter, rm removes nothing unless --all says to empty the DLQ.`,
		Example: `  worker dlq rm --config worker.yaml --reason malformed_message --since 7d --dry-run
  worker dlq rm --config worker.yaml 412 413`,
		RunE: func(cmd *cobra.Command, args []string) error {
			seqs := make([]uint64, 0, len(args))
			for _, s := range args {
				n, err := strconv.ParseUint(s, 10, 64)
				if err != nil || n == 0 {
					return fmt.Errorf("%q is not a letter's sequence: give the SEQ numbers `worker dlq ls` shows", s)
				}
				seqs = append(seqs, n)
			}
			filtered := f.destination != "" || f.reason != "" || f.since != "" || f.limit > 0
			switch {
			case len(seqs) > 0 && (filtered || all):
				return errors.New("give either SEQ numbers or filters (--destination, --reason, --since, --limit, --all), not both")
			case len(seqs) == 0 && !filtered && !all:
				return errors.New("nothing chosen: give SEQ numbers, a filter (--destination, --reason, --since, --limit), or --all to remove every letter")
			}
			return a.withDLQ(cmd, &f, func(ctx context.Context, c *toolConn, filter dlq.Filter) error {
				return dlqRemove(ctx, c, filter, seqs, f.dryRun, cmd.OutOrStdout())
			})
		},
	}
	f.register(cmd, true, 0)
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "print what would be removed; change nothing")
	cmd.Flags().BoolVar(&all, "all", false, "with no SEQ and no filter: remove every letter")
	return cmd
}

func dlqRemove(ctx context.Context, c *toolConn, f dlq.Filter, seqs []uint64, dryRun bool, out io.Writer) error {
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	show := func(e dlq.Entry) {
		id := ""
		if e.EventID != "" {
			id = ", event " + escapeUTF8(e.EventID)
		}
		fmt.Fprintf(out, "%s letter %d (%s, %s%s, failed %s)\n", verb, e.Seq, escapeUTF8(e.Destination), e.Reason, id, e.FailedAt.Format(time.RFC3339))
	}
	var (
		rep dlq.RemoveReport
		err error
	)
	if len(seqs) > 0 {
		rep, err = dlq.RemoveSeqs(ctx, c.b.JS, c.names, seqs, dryRun, show)
	} else {
		rep, err = dlq.Remove(ctx, c.b.JS, c.names, f, dryRun, show)
	}
	if dryRun {
		fmt.Fprintf(out, "dry run: %d letters would be removed; nothing changed\n", len(rep.Entries))
	} else {
		fmt.Fprintf(out, "removed %d letters\n", rep.Removed)
	}
	return err
}
