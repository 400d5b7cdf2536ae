package docker_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// composeProject is one project (-p) of a compose file, started with upCompose and
// brought down with its volumes when the test ends; its logs are printed if the test
// failed.
type composeProject struct {
	t                  *testing.T
	cmd                []string // "docker compose" or "docker-compose"
	root, file, name   string
	env                []string
	logTail, downStops string // `logs --tail` and `down -t` when set
}

// upCompose runs `up -d` for file under the project name with env, and registers the
// teardown. logTail limits the logs printed on failure ("" for all); stopTimeout is
// `down -t` ("" for Compose's default).
func upCompose(t *testing.T, root, file, name string, env []string, logTail, stopTimeout string) *composeProject {
	t.Helper()
	c := &composeProject{t: t, cmd: composeCommand(t), root: root, file: file, name: name, env: env, logTail: logTail, downStops: stopTimeout}
	t.Cleanup(func() {
		if t.Failed() {
			args := []string{"logs", "--no-color"}
			if c.logTail != "" {
				args = append(args, "--tail", c.logTail)
			}
			logs, _ := c.run(time.Minute, args...)
			t.Logf("compose logs:\n%s", logs)
		}
		args := []string{"down", "-v", "--remove-orphans"}
		if c.downStops != "" {
			args = append(args, "-t", c.downStops)
		}
		if out, err := c.run(3*time.Minute, args...); err != nil {
			t.Logf("compose down: %v\n%s", err, out)
		}
	})
	if _, err := c.run(5*time.Minute, "up", "-d"); err != nil {
		t.Fatal(err)
	}
	return c
}

// run runs one compose command of the project.
func (c *composeProject) run(timeout time.Duration, args ...string) (string, error) {
	full := append(append(c.cmd[1:len(c.cmd):len(c.cmd)], "-f", c.file, "-p", c.name), args...)
	return run(c.t, timeout, c.root, c.env, c.cmd[0], full...)
}

// port is the host address (127.0.0.1:N) published for a service's container port.
func (c *composeProject) port(service, p string, index int) string {
	c.t.Helper()
	out, err := c.run(time.Minute, "port", "--index", fmt.Sprint(index), service, p)
	if err != nil {
		c.t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// containerID is the id of a service's (first) container.
func (c *composeProject) containerID(service string) string {
	c.t.Helper()
	out, err := c.run(time.Minute, "ps", "-q", service)
	if err != nil {
		c.t.Fatal(err)
	}
	ids := strings.Fields(out)
	if len(ids) == 0 {
		c.t.Fatalf("no container for service %s", service)
	}
	return ids[0]
}
