// Command nkeys generates one NKey per role of deploy/nats/accounts.conf (publisher,
// worker, operator): it writes each seed to DIR/<role>.nk and prints the public keys,
// and NATS_SEEDS_DIR, as KEY=value lines for nats-server's environment or Compose's
// --env-file. The seeds are secrets: keep DIR out of version control.
//
//	go run ./cmd/nkeys -dir compose/secrets > compose/secrets/nkeys.env
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nkeys"
)

func main() {
	dir := flag.String("dir", "", "directory for the seed files (created if missing)")
	flag.Parse()
	if err := run(*dir, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "nkeys:", err)
		os.Exit(1)
	}
}

func run(dir string, out io.Writer) error {
	if dir == "" {
		return fmt.Errorf("-dir is required: the directory to write the seeds to")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("-dir %s: %w", dir, err)
	}
	// 0755/0644: the worker container's non-root user reads its seed through a bind
	// mount; the directory is meant for a development machine (see docker-compose.yml).
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return fmt.Errorf("-dir %s: %w", dir, err)
	}
	for _, role := range []string{"publisher", "worker", "operator"} {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return fmt.Errorf("create the %s key: %w", role, err)
		}
		seed, err := kp.Seed()
		if err != nil {
			return err
		}
		pub, err := kp.PublicKey()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(abs, role+".nk"), seed, 0o644); err != nil {
			return fmt.Errorf("write the %s seed: %w", role, err)
		}
		fmt.Fprintf(out, "%s_NKEY=%s\n", strings.ToUpper(role), pub)
	}
	fmt.Fprintf(out, "NATS_SEEDS_DIR=%s\n", abs)
	return nil
}
