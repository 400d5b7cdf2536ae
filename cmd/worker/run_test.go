package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/logbuf"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// servingAddr returns the listener address that run's JSON log announces, or "".
func servingAddr(logs string) string {
	for _, line := range strings.Split(logs, "\n") {
		var l struct{ Addr, Message string }
		if json.Unmarshal([]byte(line), &l) == nil && strings.HasPrefix(l.Message, "serving /healthz") {
			return l.Addr
		}
	}
	return ""
}

func pollUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		<-tick.C
	}
}

// TestRunCommand runs `worker run --config FILE` as an operator would: token from the
// environment, NATS and the sandbox from the file, HTTP on a port the log announces.
// It publishes rows with raw emails and phones, waits until TikTok accepted them,
// sends the shutdown (the context main cancels on SIGTERM), and checks that run
// returns nil within the drain timeout and that no log line holds PII or the token.
func TestRunCommand(t *testing.T) {
	const token = "run-test-access-token-4f9c2e"
	t.Setenv("NATS_URL", "")
	t.Setenv("TIKTOK_API_BASE", "")
	t.Setenv("RUN_TEST_TIKTOK_TOKEN", token)
	srv := natstest.RunServer(t)
	_, js := natstest.Connect(t, srv)
	sandbox := tiktoktest.NewServer()
	defer sandbox.Close()
	sandbox.AddToken(token)

	const drain = 5 * time.Second
	cfgPath := filepath.Join(t.TempDir(), "worker.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(`nats:
  url: %s
tiktok:
  api_base: %s
  access_token_env: RUN_TEST_TIKTOK_TOKEN
delivery:
  max_wait: 50ms
  drain_timeout: %s
http:
  listen: 127.0.0.1:0
log:
  format: json
`, srv.ClientURL(), sandbox.URL, drain)+storesDestination)

	stderr := &logbuf.Buffer{}
	var stdout bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &stdout, stderr: stderr}
	root := a.root()
	root.SetArgs([]string{"run", "--config", cfgPath})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()

	var addr string
	pollUntil(t, 10*time.Second, "the log line that announces the HTTP address", func() bool {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("run returned early: %v\n%s", err, stderr.String())
		default:
		}
		addr = servingAddr(stderr.String())
		return addr != ""
	})
	pollUntil(t, 10*time.Second, "/readyz 200", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	// Rows with PII in the clear, as upstream jobs publish them.
	const n = 40
	var pii []string
	pubCtx, cancelPub := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelPub()
	subject := broker.NamesFor("").RowsSubject("stores")
	for i := range n {
		email := fmt.Sprintf("Shopper.%d@Example.org", i)
		phone := fmt.Sprintf("+1 415 555 %04d", 1000+i)
		pii = append(pii, email, strings.ToLower(email), phone, strings.ReplaceAll(phone[1:], " ", ""))
		row := fmt.Sprintf(`{"event":"Purchase","event_id":"run-%d","timestamp":%d,"email":%q,"phone":%q,"price":"12.50","quantity":1,"currency":"USD"}`,
			i, time.Now().Unix(), email, phone)
		if _, err := js.Publish(pubCtx, subject, []byte(row)); err != nil {
			t.Fatal(err)
		}
	}
	// One invalid row too: its dead letter and log must not show the phone either.
	if _, err := js.Publish(pubCtx, subject, []byte(fmt.Sprintf(`{"event_id":"bad-1","timestamp":%d,"phone":"4155550999x","email":"not an email"}`, time.Now().Unix()))); err != nil {
		t.Fatal(err)
	}
	pii = append(pii, "4155550999", "not an email")
	pollUntil(t, 15*time.Second, fmt.Sprintf("%d events accepted by the sandbox", n), func() bool { return sandbox.AcceptedCount() == n })

	// SIGTERM: main cancels the command's context.
	cancel()
	start := time.Now()
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Errorf("run returned %v after SIGTERM, want nil", err)
		}
		if took := time.Since(start); took > drain {
			t.Errorf("run took %s to drain, more than drain_timeout %s", took, drain)
		}
	case <-time.After(drain + 5*time.Second):
		t.Fatalf("run did not return within drain_timeout (%s) after SIGTERM", drain)
	}

	logs := stderr.String()
	for _, want := range []string{"connection check passed", "worker running", "draining"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	for _, secret := range append(pii, token) {
		if strings.Contains(logs, secret) || strings.Contains(stdout.String(), secret) {
			t.Errorf("the output shows %q", secret)
		}
	}
	if t.Failed() {
		t.Logf("logs:\n%s", logs)
	}
}

// TestRunCommandNeedsAToken: run without the token fails at start, naming the variable.
func TestRunCommandNeedsAToken(t *testing.T) {
	t.Setenv("NATS_URL", "")
	t.Setenv("RUN_TEST_TIKTOK_TOKEN", "")
	srv := natstest.RunServer(t)
	cfgPath := filepath.Join(t.TempDir(), "worker.yaml")
	writeFile(t, cfgPath, "nats:\n  url: "+srv.ClientURL()+"\ntiktok:\n  access_token_env: RUN_TEST_TIKTOK_TOKEN\n"+storesDestination)
	_, stderr, code := runWorker(t, "", "run", "--config", cfgPath)
	if code == 0 || !strings.Contains(stderr, "RUN_TEST_TIKTOK_TOKEN") {
		t.Errorf("exit %d, stderr %q: want a failure naming RUN_TEST_TIKTOK_TOKEN", code, stderr)
	}
}
