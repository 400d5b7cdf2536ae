// Package crash_test kills a worker replica mid-run (issue 8, SPEC §8): two real
// worker processes share one real JetStream server; one is killed with SIGKILL while
// both hold a backlog and TikTok answers in 200 ms. Every row must be accounted for
// (acked: sent, or dead-lettered) and every valid event accepted within ack_wait +
// 15 s of the kill: no claim, lease or lock outlives a replica.
//
// The replicas are this test binary re-executed (TestMain runs the worker when
// CRASH_WORKER_CONFIG names a configuration file), built from internal/service as
// `worker run` is.
package crash_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/logbuf"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/service"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// configEnv names the configuration of a replica: set, the test binary is a worker.
const configEnv = "CRASH_WORKER_CONFIG"

func TestMain(m *testing.M) {
	if path := os.Getenv(configEnv); path != "" {
		os.Exit(runWorker(path))
	}
	os.Exit(m.Run())
}

// runWorker is `worker run --config path`: it runs until SIGTERM, then drains.
func runWorker(path string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, err := config.Load(path, os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	log, err := service.NewLogger(cfg.Log, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s, err := service.New(ctx, cfg, log, service.Options{Version: "crash-test"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	if err := s.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

const (
	dest     = "stores"
	rows     = 6000
	badEvery = 50 // every 50th row has an invalid e-mail: one invalid_row dead letter
	ackWait  = 3 * time.Second
	latency  = 200 * time.Millisecond
)

func TestKillOneReplicaMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("crash: starts two worker processes")
	}
	dir := t.TempDir()
	srv := natstest.RunServer(t)
	_, js := natstest.Connect(t, srv)
	sandbox := tiktoktest.NewServer(tiktoktest.WithLatency(latency))
	t.Cleanup(sandbox.Close)

	cfgPath := filepath.Join(dir, "worker.yaml")
	writeConfig(t, cfgPath, srv.ClientURL(), sandbox.URL)
	cfg, err := config.Load(cfgPath, func(k string) string {
		if k == config.DefaultAccessTokenEnv {
			return tiktoktest.DefaultToken
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	topo := service.Topology(cfg)
	if err := broker.Ensure(t.Context(), js, topo); err != nil {
		t.Fatal(err)
	}
	valid := publishRows(t, js, topo.Names.RowsSubject(dest))

	a, b := startReplica(t, cfgPath, "a"), startReplica(t, cfgPath, "b")
	cons, err := js.Consumer(t.Context(), topo.Names.RowsStream, topo.Names.ConsumerName(dest))
	if err != nil {
		t.Fatal(err)
	}
	// Mid-run: a fifth of the events accepted, the backlog still there.
	waitFor(t, "a fifth of the events accepted", 60*time.Second, func() bool {
		return sandbox.AcceptedCount() >= rows/5
	})
	info, err := cons.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumPending == 0 || info.NumAckPending == 0 {
		t.Fatalf("no backlog at the kill (pending %d, unacked %d): the test kills nothing in flight", info.NumPending, info.NumAckPending)
	}
	a.kill(t)
	killed := time.Now()
	t.Logf("killed replica a with %d rows pending and %d unacked; %d events accepted so far",
		info.NumPending, info.NumAckPending, sandbox.AcceptedCount())

	limit := ackWait + 15*time.Second
	waitFor(t, "every valid event accepted", limit+30*time.Second, func() bool {
		return sandbox.AcceptedCount() >= valid
	})
	if took := time.Since(killed); took > limit {
		t.Errorf("every valid event was accepted %v after the kill, more than ack_wait + 15 s (%v)", took.Round(time.Millisecond), limit)
	} else {
		t.Logf("every valid event accepted %v after the kill (limit %v)", took.Round(time.Millisecond), limit)
	}
	// Every row accounted: the rows stream (a work queue) is empty, so every message
	// was acked — sent or dead-lettered — and the DLQ holds exactly the invalid rows.
	waitFor(t, "the rows stream to empty", 20*time.Second, func() bool { return streamMsgs(t, js, topo.Names.RowsStream) == 0 })
	if got, want := streamMsgs(t, js, topo.Names.DLQStream), uint64(rows-valid); got != want {
		t.Errorf("the DLQ holds %d letters, want the %d invalid rows", got, want)
	}
	ids := map[string]int{}
	for _, ev := range sandbox.Accepted() {
		ids[ev.EventID]++
	}
	for i := range rows {
		if i%badEvery == 0 {
			continue
		}
		if id := fmt.Sprintf("crash-%d", i); ids[id] != 1 {
			t.Errorf("event %s accepted %d times, want once", id, ids[id])
		}
	}
	t.Logf("TikTok dropped %d repeats (events the killed replica had in flight, or accepted but not yet recorded)", sandbox.Stats().Deduplicated)
	b.stop(t)
}

// publishRows publishes the backlog, one row per message, and returns how many rows
// are valid.
func publishRows(t *testing.T, js jetstream.JetStream, subject string) int {
	t.Helper()
	ts := time.Now().Add(-time.Hour).Unix()
	valid := 0
	for i := range rows {
		email := fmt.Sprintf("customer%d@example.com", i)
		if i%badEvery == 0 {
			email = "not-an-address"
		} else {
			valid++
		}
		body, _ := json.Marshal(map[string]any{"event_id": fmt.Sprintf("crash-%d", i), "timestamp": ts,
			"email": email, "content_id": "sku-1", "price": 9.5, "quantity": 1})
		if _, err := js.PublishAsync(subject, body); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		t.Fatal("the backlog's publish acks did not arrive within a minute")
	}
	return valid
}

func writeConfig(t *testing.T, path, natsURL, apiBase string) {
	t.Helper()
	yaml := fmt.Sprintf(`nats:
  url: %s
tiktok:
  api_base: %s
http:
  listen: ""
log:
  level: warn
  format: json
delivery:
  batch_size: 100
  in_flight: 2
  max_wait: 100ms
  ack_wait: %s
  drain_timeout: 5s
destinations:
  - name: %s
    advertiser_id: %q
    event_source: offline
    event_source_id: %q
    fixed_event_name: Purchase
`, natsURL, apiBase, ackWait, dest, tiktoktest.DefaultAdvertiserID, tiktoktest.DefaultEventSetID)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// replica is one worker process.
type replica struct {
	name   string
	cmd    *exec.Cmd
	stderr *logbuf.Buffer
	exited chan error
}

func startReplica(t *testing.T, cfgPath, name string) *replica {
	t.Helper()
	r := &replica{name: name, stderr: &logbuf.Buffer{}, exited: make(chan error, 1)}
	r.cmd = exec.Command(os.Args[0], "-test.run=^$")
	r.cmd.Env = append(cleanEnv(), configEnv+"="+cfgPath, config.DefaultAccessTokenEnv+"="+tiktoktest.DefaultToken)
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start replica %s: %v", name, err)
	}
	go func() { r.exited <- r.cmd.Wait() }()
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
		if t.Failed() {
			t.Logf("replica %s stderr:\n%s", name, r.stderr)
		}
	})
	return r
}

// kill is kill -9: no drain, no acks, no NAKs.
func (r *replica) kill(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 replica %s: %v", r.name, err)
	}
	<-r.exited
}

// stop is SIGTERM: the replica drains and must exit 0.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM replica %s: %v", r.name, err)
	}
	select {
	case err := <-r.exited:
		if err != nil {
			t.Errorf("replica %s exited with %v after SIGTERM", r.name, err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("replica %s did not exit within 30 s of SIGTERM", r.name)
	}
}

func streamMsgs(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	st, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond) // a poll interval, not a wait for an outcome
	}
}

// cleanEnv is this process's environment without what would override the config.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATS_") && !strings.HasPrefix(kv, "TIKTOK_") && !strings.HasPrefix(kv, "WORKER_") {
			env = append(env, kv)
		}
	}
	return env
}
