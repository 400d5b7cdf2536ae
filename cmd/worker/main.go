// Command worker delivers conversion events from NATS JetStream to the TikTok Events API.
//
// It is one binary with subcommands: run (the queue worker), demo, preview, validate,
// publish, trace, dlq and sandbox. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/trace"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// app carries the process's standard streams so that commands can be tested
// without touching the real ones.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	// openSent opens the sent log `worker trace` reads; nil: the configuration's.
	openSent func(ctx context.Context, c *toolConn) (trace.SentLookup, error)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	if err := a.root().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(exitCode(err))
	}
}

// exitError lets a command choose its exit code (validate exits 1 when a check fails).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 2
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:           "worker",
		Short:         "Deliver conversion events from NATS JetStream to the TikTok Events API",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	groupCommand(root)
	root.AddCommand(
		a.versionCmd(),
		a.previewCmd(),
		a.sandboxCmd(),
		a.validateCmd(),
		a.runCmd(),
		a.demoCmd(),
		a.publishCmd(),
		a.dlqCmd(),
		a.traceCmd(),
	)
	return root
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the worker's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "tiktok-events-worker %s\n", version)
			return err
		},
	}
}

// groupCommand makes cmd, a command that only groups subcommands, print its help when
// called alone and refuse anything else — `worker bogus`, `worker dlq bogus` — with
// exit 2, the usage on stderr and the nearest command's name when there is one.
func groupCommand(cmd *cobra.Command) {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2
		}
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf("; did you mean %q?", s[0])
		}
		fmt.Fprintln(cmd.ErrOrStderr(), cmd.UsageString())
		return &exitError{code: 2, err: errors.New(msg)}
	}
}
