package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner): replace this placeholder with the real command.
func (a *app) sandboxCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "sandbox",
		Short: "Run the fake TikTok Events API as a standalone server",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("sandbox: not implemented yet")
		},
	}
}
