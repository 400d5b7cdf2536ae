package docker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
)

// The chaos run's size: the compose config's rate limit (4 requests/s of 100 events
// per replica) makes the backlog last long enough to stop a node and a replica in the
// middle of it, and short enough to finish in about a minute.
const (
	clusterRows    = 20_000
	clusterInvalid = 100 // every 200th row has a timestamp no parser takes
	clusterDest    = "stores"
)

// TestClusterSurvivesLosingANode brings up deploy/compose (3 JetStream nodes with the
// least-privilege users, stream and consumer replicas 3, two worker replicas, the
// sandbox), publishes a backlog as the publisher role, stops the NATS container that
// leads the rows stream, then one worker container, and checks that every row is
// accounted for exactly once: every valid event accepted by the sandbox, every invalid
// row dead-lettered once, nothing left in the rows stream or its consumer. It reports
// the time from the leader's stop to the next event TikTok accepted.
func TestClusterSurvivesLosingANode(t *testing.T) {
	requireDocker(t)
	root := repoRoot(t)
	worker, natsImage := buildImages(t)
	start := time.Now()

	// One NKey per role; the worker containers read the worker's seed through a bind
	// mount as their non-root user, so the files are world-readable in a private dir.
	seeds := t.TempDir()
	if err := os.Chmod(seeds, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"WORKER_IMAGE=" + worker, "NATS_IMAGE=" + natsImage, "NATS_SEEDS_DIR=" + seeds,
		"NATS1_PORT=", "NATS2_PORT=", "NATS3_PORT=", "NATS1_MONITOR_PORT=", "NATS2_MONITOR_PORT=", "NATS3_MONITOR_PORT=",
		"SANDBOX_PORT=", "WORKER_PORTS=",
	}
	for _, role := range []string{"publisher", "worker", "operator"} {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := kp.Seed()
		pub, _ := kp.PublicKey()
		if err := os.WriteFile(filepath.Join(seeds, role+".nk"), seed, 0o644); err != nil {
			t.Fatal(err)
		}
		env = append(env, strings.ToUpper(role)+"_NKEY="+pub)
	}

	file := filepath.Join(root, "deploy", "compose", "docker-compose.yml")
	c := upCompose(t, root, file, fmt.Sprintf("tteworker-cluster-%d", os.Getpid()), env, "200", "5")
	port := c.port
	var urls []string
	for _, n := range []string{"nats-1", "nats-2", "nats-3"} {
		urls = append(urls, "nats://"+port(n, "4222", 1))
	}
	sandboxAddr := port("sandbox", "9090", 1)
	// Container ids now, so that stopping one later is a single quick docker call.
	containers := map[string]string{}
	for _, n := range []string{"nats-1", "nats-2", "nats-3"} {
		containers[n] = c.containerID(n)
	}
	replicas := []string{port("worker", "8080", 1), port("worker", "8080", 2)}

	deadline := time.Now().Add(3 * time.Minute)
	for _, r := range replicas {
		waitFor(t, deadline, "worker replica "+r+" ready", func() (bool, string) {
			code, body := get("http://" + r + "/readyz")
			return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
		})
	}
	t.Logf("cluster and replicas up after %s", time.Since(start).Round(time.Second))

	names := broker.NamesFor("")
	op := connectAs(t, urls, filepath.Join(seeds, "operator.nk"))
	opJS, err := jetstream.New(op)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	info := streamInfo(t, ctx, opJS, names.RowsStream)
	if info.Config.Replicas != 3 || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("rows stream replicas %d (cluster %+v), want 3 (a leader and two followers)", info.Config.Replicas, info.Cluster)
	}

	// The backlog, as the publisher role publishes it.
	pub := connectAs(t, urls, filepath.Join(seeds, "publisher.nk"))
	pubJS, err := jetstream.New(pub, jetstream.WithPublishAsyncMaxPending(2000))
	if err != nil {
		t.Fatal(err)
	}
	eventTime := time.Now().Add(-time.Hour).Unix()
	valid := map[string]bool{}
	invalid := map[string]bool{}
	var acks []jetstream.PubAckFuture
	for i := range clusterRows {
		id := fmt.Sprintf("chaos-%05d", i)
		row := fmt.Sprintf(`{"event_id":%q,"timestamp":%d,"email":"buyer%d@example.com","price":"9.99","quantity":"1","currency":"USD"}`, id, eventTime, i)
		if i%(clusterRows/clusterInvalid) == 0 {
			row = fmt.Sprintf(`{"event_id":%q,"timestamp":"yesterday-ish","email":"buyer%d@example.com"}`, id, i)
			invalid[id] = true
		} else {
			valid[id] = true
		}
		f, err := pubJS.PublishAsync(names.RowsSubject(clusterDest), []byte(row), jetstream.WithStallWait(time.Minute))
		if err != nil {
			t.Fatalf("publish row %d: %v", i, err)
		}
		acks = append(acks, f)
	}
	for i, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatalf("row %d not acknowledged: %v", i, err)
		case <-ctx.Done():
			t.Fatalf("row %d: no ack: %v", i, ctx.Err())
		}
	}
	t.Logf("published %d rows (%d invalid) as the publisher role", clusterRows, len(invalid))

	sb := sandboxClient{addr: sandboxAddr}
	waitFor(t, time.Now().Add(3*time.Minute), "a fifth of the events accepted", func() (bool, string) {
		n := sb.count(t)
		return n >= len(valid)/5, fmt.Sprintf("%d accepted", n)
	})

	// Stop the rows stream's leader.
	leader := streamInfo(t, ctx, opJS, names.RowsStream).Cluster.Leader
	if !slices.Contains([]string{"nats-1", "nats-2", "nats-3"}, leader) {
		t.Fatalf("rows stream leader %q is not a compose service", leader)
	}
	before := sb.count(t)
	leaderID := containers[leader]
	if _, err := run(t, time.Minute, "", nil, "docker", "stop", "-t", "10", leaderID); err != nil {
		t.Fatal(err)
	}
	// The moment the leader's process ended, by Docker's clock (the sandbox's too).
	finished := strings.TrimSpace(mustRun(t, time.Minute, "", nil, "docker", "inspect", "-f", "{{.State.FinishedAt}}", leaderID))
	leaderStopped, err := time.Parse(time.RFC3339Nano, finished)
	if err != nil {
		t.Fatalf("docker inspect FinishedAt %q: %v", finished, err)
	}
	after := sb.count(t)
	var newLeader string
	waitFor(t, time.Now().Add(time.Minute), "a new leader of the rows stream", func() (bool, string) {
		s, err := opJS.Stream(ctx, names.RowsStream)
		if err != nil {
			return false, err.Error()
		}
		newLeader = s.CachedInfo().Cluster.Leader
		return newLeader != "" && newLeader != leader, "leader " + newLeader
	})
	elected := time.Since(leaderStopped)
	t.Logf("stopped %s, the rows stream's leader, with %d (before) to %d (after) of %d events accepted", leader, before, after, len(valid))
	if after >= len(valid) {
		t.Fatalf("the backlog was delivered before the leader stopped: lower tiktok.rate_limit in deploy/compose/worker-config.yaml")
	}

	waitFor(t, time.Now().Add(3*time.Minute), "half of the events accepted", func() (bool, string) {
		n := sb.count(t)
		return n >= len(valid)/2, fmt.Sprintf("%d accepted", n)
	})
	victim := c.containerID("worker")
	before = sb.count(t)
	if _, err := run(t, time.Minute, "", nil, "docker", "stop", victim); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped worker container %.12s (drained), with %d events accepted", victim, before)

	// Everything settles on the two nodes and one replica left.
	rows, err := opJS.Stream(ctx, names.RowsStream)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Now().Add(4*time.Minute), "every row settled", func() (bool, string) {
		n := sb.count(t)
		ci, err := rows.Consumer(ctx, names.ConsumerName(clusterDest))
		if err != nil {
			return false, fmt.Sprintf("%d accepted; consumer: %v", n, err)
		}
		c := ci.CachedInfo()
		si, err := rows.Info(ctx)
		if err != nil {
			return false, fmt.Sprintf("%d accepted; stream: %v", n, err)
		}
		return n >= len(valid) && c.NumPending == 0 && c.NumAckPending == 0 && si.State.Msgs == 0,
			fmt.Sprintf("%d accepted, consumer pending %d ack pending %d, stream %d messages", n, c.NumPending, c.NumAckPending, si.State.Msgs)
	})
	elapsed := time.Since(start)

	// Accounting: each valid event reached TikTok, each invalid row is one dead letter.
	accepted, stats := sb.accepted(t)
	seen := map[string]int{}
	var afterStop []time.Time
	for _, e := range accepted {
		seen[e.EventID]++
		if e.ReceivedAt.After(leaderStopped) {
			afterStop = append(afterStop, e.ReceivedAt)
		}
	}
	var missing, unknown []string
	for id := range valid {
		if seen[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id := range seen {
		if !valid[id] {
			unknown = append(unknown, id)
		}
	}
	if len(missing) > 0 || len(unknown) > 0 {
		t.Errorf("sandbox: %d valid events never accepted (%v…), %d accepted that were not valid rows (%v…)", len(missing), head(missing), len(unknown), head(unknown))
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("event %s accepted %d times", id, n)
		}
	}
	letters, err := dlq.List(ctx, opJS, names, dlq.Filter{})
	if err != nil {
		t.Fatalf("dlq ls as the operator: %v", err)
	}
	lettered := map[string]int{}
	for _, l := range letters {
		var body struct {
			EventID string `json:"event_id"`
		}
		_ = json.Unmarshal(l.Body, &body)
		lettered[body.EventID]++
		if l.Reason != "invalid_row" {
			t.Errorf("dead letter %d: reason %s, want invalid_row (%s)", l.Seq, l.Reason, l.Error)
		}
	}
	for id := range invalid {
		if lettered[id] != 1 {
			t.Errorf("invalid row %s dead-lettered %d times, want once", id, lettered[id])
		}
	}
	if len(letters) != len(invalid) {
		t.Errorf("%d dead letters, want %d", len(letters), len(invalid))
	}

	sort.Slice(afterStop, func(i, j int) bool { return afterStop[i].Before(afterStop[j]) })
	if len(afterStop) == 0 {
		t.Fatal("no event accepted after the leader stopped")
	}
	gap := afterStop[0].Sub(leaderStopped)
	// The longest pause in acceptances in the minute after the stop.
	var stall time.Duration
	prev := leaderStopped
	for _, at := range afterStop {
		if at.Sub(leaderStopped) > time.Minute {
			break
		}
		stall = max(stall, at.Sub(prev))
		prev = at
	}
	t.Logf("FIGURES rows=%d valid=%d dead-lettered=%d accepted=%d repeats-dropped-by-sandbox=%d requests=%d; "+
		"leader %s stopped → next accepted event %s later, longest pause in the minute after %s, %s seen leading within %s; whole run %s",
		clusterRows, len(valid), len(letters), len(seen), stats.Deduplicated, stats.Requests,
		leader, gap.Round(time.Millisecond), stall.Round(time.Millisecond), newLeader, elected.Round(time.Millisecond), elapsed.Round(time.Second))
}

func head(s []string) []string {
	sort.Strings(s)
	return s[:min(len(s), 5)]
}

// connectAs connects to the cluster with a role's NKey seed, reconnecting forever.
func connectAs(t *testing.T, urls []string, seedFile string) *nats.Conn {
	t.Helper()
	opt, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(strings.Join(urls, ","), opt, nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond),
		nats.RetryOnFailedConnect(false))
	if err != nil {
		t.Fatalf("connect with %s: %v", filepath.Base(seedFile), err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// streamInfo waits (bounded) for a stream that the workers create and that has an
// elected leader.
func streamInfo(t *testing.T, ctx context.Context, js jetstream.JetStream, name string) *jetstream.StreamInfo {
	t.Helper()
	var info *jetstream.StreamInfo
	waitFor(t, time.Now().Add(2*time.Minute), "stream "+name+" with a leader", func() (bool, string) {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return false, err.Error()
		}
		info = s.CachedInfo()
		return info.Cluster != nil && info.Cluster.Leader != "", fmt.Sprintf("%+v", info.Cluster)
	})
	return info
}

// sandboxClient reads the sandbox's views from the host.
type sandboxClient struct{ addr string }

type acceptedEvent struct {
	EventID    string    `json:"event_id"`
	ReceivedAt time.Time `json:"received_at"`
}

type sandboxStats struct {
	Accepted     int `json:"accepted"`
	Deduplicated int `json:"deduplicated"`
	Requests     int `json:"requests"`
}

func (s sandboxClient) count(t *testing.T) int {
	t.Helper()
	code, body := get("http://" + s.addr + "/sandbox/stats")
	var st sandboxStats
	if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil {
		return -1
	}
	return st.Accepted
}

func (s sandboxClient) accepted(t *testing.T) ([]acceptedEvent, sandboxStats) {
	t.Helper()
	resp, err := (&http.Client{Timeout: time.Minute}).Get(fmt.Sprintf("http://%s/sandbox/accepted?limit=%d", s.addr, 10*clusterRows))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Count  int             `json:"count"`
		Events []acceptedEvent `json:"events"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatalf("/sandbox/accepted: %v", err)
	}
	if page.Count != len(page.Events) {
		t.Fatalf("/sandbox/accepted lists %d of %d events (raise the sandbox's --max-recorded)", len(page.Events), page.Count)
	}
	code, body := get("http://" + s.addr + "/sandbox/stats")
	var st sandboxStats
	if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("/sandbox/stats: %d %s", code, body)
	}
	return page.Events, st
}
