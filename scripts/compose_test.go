// Package scripts_test tests the shell scripts the Makefile runs.
package scripts_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeCommand writes an executable named name into dir that appends its name and
// arguments to dir/calls; a fake docker without the Compose plugin fails every
// `docker compose …` as the real CLI does.
func fakeCommand(t *testing.T, dir, name string, composePlugin bool) {
	t.Helper()
	script := "#!/bin/sh\necho \"" + name + " $*\" >> \"" + filepath.Join(dir, "calls") + "\"\n"
	if name == "docker" && !composePlugin {
		// The CLI without the plugin: `docker compose …` is an unknown command.
		script += "if [ \"$1\" = compose ]; then echo \"docker: unknown command: docker compose\" >&2; exit 1; fi\n"
	}
	script += "exit 0\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestComposeDetection(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	script, err := filepath.Abs("compose.sh")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		docker        bool
		composePlugin bool
		v1            bool
		env           string // COMPOSE
		wantCall      string // the last call recorded, "" for none
		wantCode      int
		wantStderr    string
	}{
		{"v2 plugin", true, true, true, "", "docker compose up -d", 0, ""},
		{"v2 plugin only", true, true, false, "", "docker compose up -d", 0, ""},
		{"engine CLI without the plugin, v1 installed", true, false, true, "", "docker-compose up -d", 0, ""},
		{"v1 only", false, false, true, "", "docker-compose up -d", 0, ""},
		{"override", true, true, true, "docker-compose", "docker-compose up -d", 0, ""},
		{"neither", true, false, false, "", "", 127, "neither `docker compose` (Compose v2) nor `docker-compose` (Compose v1) is installed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.docker {
				fakeCommand(t, dir, "docker", tt.composePlugin)
			}
			if tt.v1 {
				fakeCommand(t, dir, "docker-compose", false)
			}
			cmd := exec.Command(sh, script, "up", "-d")
			// Only the fakes: the machine's own docker and docker-compose must not be found.
			cmd.Env = []string{"PATH=" + dir, "COMPOSE=" + tt.env}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tt.wantCode, tt.wantStderr)
			}
			calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
			lines := strings.Split(strings.TrimSpace(string(calls)), "\n")
			if tt.wantCall == "" {
				if strings.Contains(string(calls), "up -d") {
					t.Fatalf("a compose ran:\n%s", calls)
				}
				return
			}
			if last := lines[len(lines)-1]; last != tt.wantCall {
				t.Fatalf("calls:\n%s\nwant the last to be %q", calls, tt.wantCall)
			}
		})
	}
}
