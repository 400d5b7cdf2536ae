package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner): replace this placeholder with the real command.
func (a *app) previewCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "preview",
		Short: "Show the TikTok request bodies that rows on stdin would produce",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("preview: not implemented yet")
		},
	}
}
