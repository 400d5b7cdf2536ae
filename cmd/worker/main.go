// Command worker delivers conversion events from NATS JetStream to the TikTok Events API.
//
// It is one binary with subcommands: run (the queue worker), demo, preview, validate,
// publish, dlq and sandbox. See README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// app carries the process's standard streams so that commands can be tested
// without touching the real ones.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
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
	if e, ok := err.(*exitError); ok {
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
	root.AddCommand(
		a.versionCmd(),
		a.previewCmd(),
		a.sandboxCmd(),
		a.validateCmd(),
		a.runCmd(),
		a.demoCmd(),
		a.publishCmd(),
		a.dlqCmd(),
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
