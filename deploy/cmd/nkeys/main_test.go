package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

// TestRun: each role's seed is written, and the printed public key is that seed's, so
// nats-server (reading the variables) accepts the client holding the file.
func TestRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	var out strings.Builder
	if err := run(dir, &out); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			t.Fatalf("line %q is not KEY=value", sc.Text())
		}
		vars[k] = v
	}
	if vars["NATS_SEEDS_DIR"] != dir {
		t.Errorf("NATS_SEEDS_DIR=%q, want %q", vars["NATS_SEEDS_DIR"], dir)
	}
	for _, role := range []string{"publisher", "worker", "operator"} {
		seed, err := os.ReadFile(filepath.Join(dir, role+".nk"))
		if err != nil {
			t.Fatal(err)
		}
		kp, err := nkeys.FromSeed(seed)
		if err != nil {
			t.Fatalf("%s.nk: %v", role, err)
		}
		pub, _ := kp.PublicKey()
		if got := vars[strings.ToUpper(role)+"_NKEY"]; got != pub || !nkeys.IsValidPublicUserKey(got) {
			t.Errorf("%s: printed %q, the seed's public key is %q", role, got, pub)
		}
		if strings.Contains(out.String(), string(seed)) {
			t.Errorf("the %s seed was printed", role)
		}
	}
	if err := run("", &out); err == nil || !strings.Contains(err.Error(), "-dir") {
		t.Errorf("run without -dir: %v, want an error naming -dir", err)
	}
}
