package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// The standalone sandbox serves the API with the flags' tokens and ids, exposes its
// counters, never logs a token, and stops when its context is cancelled.
func TestSandboxCommand(t *testing.T) {
	const token = "sbx-TOKEN-secret-1"
	pr, pw := io.Pipe()
	var stderr strings.Builder
	a := &app{stdin: strings.NewReader(""), stdout: pw, stderr: &stderr} // read only after the command returned
	root := a.root()
	root.SetArgs([]string{"sandbox", "--addr", "127.0.0.1:0", "--token", token, "--advertiser-id", "111", "--event-set", "222", "--pixel", "CPIX"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx); pw.Close() }()

	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no listening line: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	var url string
	if _, err := fmt.Sscanf(line, "sandbox listening on %s", &url); err != nil {
		t.Fatalf("line %q: %v", line, err)
	}
	c, err := tiktokclient.New(tiktokclient.WithBaseURL(url), tiktokclient.WithTokenSource(tiktokclient.StaticToken(token)))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(ctx, tiktokclient.Target{AdvertiserID: "111", EventSource: "offline", EventSourceID: "222"}); err != nil {
		t.Fatal(err)
	}
	ev := json.RawMessage(`{"event":"Purchase","event_time":1763980000,"event_id":"x1","user":{"email":"` + hashedEmail + `"}}`)
	res, err := c.Send(ctx, tiktokclient.Request{EventSource: "offline", EventSourceID: "222", Events: []json.RawMessage{ev}})
	if err != nil || res.Outcomes[0].Status != tiktokclient.Accepted {
		t.Fatalf("send: %v %+v", err, res)
	}
	// The default token is not accepted when --token is given.
	d, _ := tiktokclient.New(tiktokclient.WithBaseURL(url), tiktokclient.WithTokenSource(tiktokclient.StaticToken(tiktoktest.DefaultToken)))
	if _, err := d.Send(ctx, tiktokclient.Request{EventSource: "offline", EventSourceID: "222", Events: []json.RawMessage{ev}}); err == nil {
		t.Fatal("the default token was accepted")
	}
	resp, err := http.Get(url + tiktoktest.StatsPath)
	if err != nil {
		t.Fatal(err)
	}
	var st tiktoktest.Stats
	_ = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.Accepted != 1 || st.Requests != 2 || st.Codes[0] != 1 || st.Codes[40105] != 1 {
		t.Fatalf("stats %+v", st)
	}
	resp, _ = http.Get(url + tiktoktest.AcceptedPath)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"event_id":"x1"`) {
		t.Fatalf("accepted view: %s", body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sandbox returned %v on cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sandbox did not stop on cancel")
	}
	logs := stderr.String()
	if !strings.Contains(logs, "sandbox listening") || strings.Contains(logs, token) {
		t.Fatalf("logs: %s", logs)
	}
}

func TestSandboxFlagErrors(t *testing.T) {
	_, stderr, code := runWorker(t, "", "sandbox", "--error-rate", "2")
	if code == 0 || !strings.Contains(stderr, "--error-rate") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	_, stderr, code = runWorker(t, "", "sandbox", "--addr", "256.0.0.1:1")
	if code == 0 || !strings.Contains(stderr, "--addr") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}
