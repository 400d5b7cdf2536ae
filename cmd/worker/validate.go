package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner): replace this placeholder with the real command.
func (a *app) validateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the configuration and each destination's connection",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("validate: not implemented yet")
		},
	}
}
