package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner): replace this placeholder with the real command.
func (a *app) publishCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "publish",
		Short: "Publish a CSV or JSON Lines file of rows to a destination",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("publish: not implemented yet")
		},
	}
}
