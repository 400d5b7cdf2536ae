package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner): replace this placeholder with the real command.
func (a *app) dlqCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "dlq",
		Short: "Inspect and replay dead-lettered rows",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("dlq: not implemented yet")
		},
	}
}
