package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner): replace this placeholder with the real command.
func (a *app) demoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run the whole pipeline on embedded NATS, the sandbox API and sample rows",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("demo: not implemented yet")
		},
	}
}
