// Command dashboard writes the worker's Grafana dashboard (package dashboard) as JSON:
//
//	go run ./cmd/dashboard > monitoring/dashboard.json
package main

import (
	"fmt"
	"os"

	"github.com/tiktok-events-worker/tiktok-events-worker/deploy/dashboard"
)

func main() {
	out, err := dashboard.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
	if _, err := os.Stdout.Write(out); err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
}
