package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestDemoCommand(t *testing.T) {
	out, stderr, code := runWorker(t, "", "demo", "--rows", "600", "--timeout", "60s")
	if code != 0 {
		t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	mix := scaledMix(600)
	for _, want := range []string{
		fmt.Sprintf("publishing %d sample rows", mix.Rows()),
		"✓ received = sent + duplicate + dead-lettered; sandbox and DLQ agree",
		"requests, retries and full batches vary with timing",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	for _, line := range []struct {
		label string
		n     int
	}{
		{"rows published", mix.Rows()},
		{"rows received", mix.Rows()},
		{"duplicate", mix.Duplicates},
		{"events accepted by the sandbox", mix.Good + mix.LineItems},
	} {
		re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(line.label) + `\s+` + fmt.Sprint(line.n) + `\s*$`)
		if !re.MatchString(out) {
			t.Errorf("summary has no line %q with %d:\n%s", line.label, line.n, out)
		}
	}
	if strings.Contains(out, "✗") {
		t.Errorf("the summary says the numbers do not add up:\n%s", out)
	}
}

func TestScaledMix(t *testing.T) {
	for _, rows := range []int{0, 50, 600, 10000, 20000} {
		m := scaledMix(rows)
		if rows > 0 && (m.Rows() < rows*9/10 || m.Rows() > rows*11/10+7) {
			t.Errorf("scaledMix(%d) makes %d rows", rows, m.Rows())
		}
		if m.Good == 0 || m.Duplicates == 0 || m.Invalid == 0 || m.Old == 0 || m.Future == 0 || m.Malformed == 0 || !m.Poison {
			t.Errorf("scaledMix(%d) = %+v: a kind of row is missing", rows, m)
		}
	}
}

// With --data-dir the store outlives the demo, and `worker dlq` reads its dead letters
// through the config file the demo leaves beside it.
func TestDemoKeepsTheStoreForDLQ(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	out, stderr, code := runWorker(t, "", "demo", "--rows", "300", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("demo exited %d\n%s\n%s", code, out, stderr)
	}
	cfg := filepath.Join(dir, "demo-config.yaml")
	if !strings.Contains(out, "worker dlq stats --config "+cfg) {
		t.Errorf("the demo does not say how to inspect the kept store:\n%s", out)
	}
	stats, stderr, code := runWorker(t, "", "dlq", "stats", "--config", cfg)
	if code != 0 {
		t.Fatalf("dlq stats exited %d: %s", code, stderr)
	}
	mix := scaledMix(300)
	re := regexp.MustCompile(`(?m)^stores\s+invalid_row\s+` + fmt.Sprint(mix.Invalid) + `\s`)
	if !re.MatchString(stats) {
		t.Errorf("dlq stats on the kept store lacks %d invalid rows:\n%s", mix.Invalid, stats)
	}
	// The kept configuration names the destination, so replay can run on it.
	out, stderr, code = runWorker(t, "", "dlq", "replay", "--config", cfg, "--reason", "invalid_row", "--dry-run")
	if code != 0 || strings.Contains(stderr, "left letter") || !strings.Contains(out, fmt.Sprintf("dry run: %d letters would be replayed", mix.Invalid)) {
		t.Errorf("dlq replay --dry-run on the kept store: exit %d\n%s%s", code, out, stderr)
	}
	// A second demo into the same, now non-empty, directory is refused.
	if _, _, code := runWorker(t, "", "demo", "--rows", "300", "--data-dir", dir); code != 2 {
		t.Errorf("a demo into a used store exited %d, want 2", code)
	}
}

// TestDemoHelp: the help renders its flags as flags (a backquoted word in a flag's
// usage becomes its value name: "--data-dir worker dlq" was the result once).
func TestDemoHelp(t *testing.T) {
	out, _, code := runWorker(t, "", "demo", "--help")
	if code != 0 || !strings.Contains(out, "--data-dir DIR ") || strings.Contains(out, "--data-dir worker") || !strings.Contains(out, "varies with timing") {
		t.Errorf("demo --help (exit %d):\n%s", code, out)
	}
	// No flag of any command takes its value name from a backquoted phrase.
	re := regexp.MustCompile(`(?m)^\s+(-\w, )?--[\w-]+ (\S+ \S+)\s{2,}`)
	for _, args := range [][]string{{"publish"}, {"validate"}, {"run"}, {"dlq", "ls"}, {"dlq", "rm"}, {"dlq", "replay"}, {"dlq", "stats"}, {"sandbox"}, {"demo"}} {
		out, _, _ := runWorker(t, "", append(args, "--help")...)
		if m := re.FindString(out); m != "" {
			t.Errorf("%v --help: a flag with a multi-word value name: %q", args, m)
		}
	}
}
