package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
)

// FuzzParse feeds arbitrary bytes to the loader: it must never panic, an accepted
// config must validate and print in a form that loads back the same, and a secret in
// the environment must never appear in an error.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"config.yaml", "compose-config.yaml"} {
		if b, err := os.ReadFile(filepath.Join("..", "..", "examples", name)); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "nats: {url: nats://a}\n", "destinations: [{name: a, window: 700h}]\n",
		"a: &a [*a]\n", "<<: {nats: 1}\n", "destinations:\n  - <<: [*x]\n", "tiktok:\n  access_token: x\n",
		"delivery: {max_wait: 5, batch_size: 1e3}\n", "x-a: &d {name: a}\ndestinations: [*d, *d]\n",
	} {
		f.Add([]byte(s))
	}
	const secret = "fuzz-SECRET-token"
	getenv := func(k string) string {
		if k == "TIKTOK_ACCESS_TOKEN" {
			return secret
		}
		return ""
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse(data, getenv)
		if err != nil {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error shows the token: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		out := c.Redacted()
		if strings.Contains(out, secret) {
			t.Fatalf("Redacted shows the token")
		}
		back, err := config.Parse([]byte(out), getenv)
		if err != nil {
			t.Fatalf("Redacted output does not load: %v\n%s", err, out)
		}
		if back.Redacted() != out {
			t.Fatalf("round trip differs:\n%s\n---\n%s", out, back.Redacted())
		}
	})
}
