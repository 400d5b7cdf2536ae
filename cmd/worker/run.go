package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner): replace this placeholder with the real command.
func (a *app) runCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the queue worker",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("run: not implemented yet")
		},
	}
}
