package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dlq"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/natstest"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// TestPublishRefusesUnknownDestination: with a configuration that lists destinations,
// publishing to another one is a usage error, and nothing is published.
func TestPublishRefusesUnknownDestination(t *testing.T) {
	env := newToolEnv(t, true)
	cfgPath := filepath.Join(t.TempDir(), "worker.yaml")
	writeFile(t, cfgPath, "nats:\n  url: "+natsURL(t, env)+"\n"+storesDestination)
	path := filepath.Join(t.TempDir(), "rows.jsonl")
	writeFile(t, path, `{"event_id":"1"}`+"\n")

	_, stderr, code := runWorker(t, "", "publish", path, "--destination", "nosuchdest", "--config", cfgPath)
	if code != 2 || !strings.Contains(stderr, `--destination "nosuchdest" is not a destination of the configuration (it has stores)`) ||
		!strings.Contains(stderr, "no worker consumes tiktok.rows.nosuchdest") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	s, err := env.js.Stream(context.Background(), env.names.RowsStream)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := s.Info(context.Background()); info.State.Msgs != 0 {
		t.Fatalf("%d messages were published", info.State.Msgs)
	}
	if _, stderr, code := runWorker(t, "", "publish", path, "--destination", "stores", "--config", cfgPath); code != 0 {
		t.Fatalf("the configured destination: exit %d, %s", code, stderr)
	}
}

// TestToolsRefuseToInventAStore: with no --config, no NATS_URL and no --embedded, the
// operator tools exit 2 and say how to point them at NATS, and create no ./data.
func TestToolsRefuseToInventAStore(t *testing.T) {
	t.Setenv("NATS_URL", "")
	dir := t.TempDir()
	t.Chdir(dir)
	path := filepath.Join(dir, "rows.jsonl")
	writeFile(t, path, `{"event_id":"1"}`+"\n")
	for _, args := range [][]string{
		{"publish", path, "--destination", "stores"},
		{"dlq", "ls"},
		{"dlq", "replay"},
		{"trace", "--destination", "stores", "o-1"},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			_, stderr, code := runWorker(t, "", args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2: %s", code, stderr)
			}
			for _, want := range []string{"no NATS server given", "--config", "NATS_URL=nats://", "--embedded"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q lacks %q", stderr, want)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
				t.Fatal("a ./data store was created")
			}
		})
	}
	// Asked for, the embedded store is used.
	out, stderr, code := runWorker(t, "", "publish", path, "--destination", "stores", "--embedded")
	if code != 0 || !strings.Contains(out, "1 acknowledged") || !strings.Contains(stderr, "embedded JetStream server over ./data") {
		t.Fatalf("--embedded: exit %d, %q, %q", code, out, stderr)
	}
}

// TestDLQReplayLeavesUnconsumedDestinations: letters of a destination the
// configuration does not list, or whose subject holds a dot, stay in the DLQ with a
// reason; the others replay.
func TestDLQReplayLeavesUnconsumedDestinations(t *testing.T) {
	env := newToolEnv(t, true)
	ls := []dlq.Letter{
		{Destination: "stores", Reason: dlq.ReasonRejected, Error: "x", Body: []byte(`{"event_id":"a"}`), SourceSubject: "tiktok.rows.stores", SourceSeq: 1, Attempts: 1},
		{Destination: "gone", Reason: dlq.ReasonRejected, Error: "x", Body: []byte(`{"event_id":"b"}`), SourceSubject: "tiktok.rows.gone", SourceSeq: 2, Attempts: 1},
		{Destination: "a.b", Reason: dlq.ReasonRejected, Error: "x", Body: []byte(`{"event_id":"c"}`), SourceSubject: "tiktok.rows.a.b", SourceSeq: 3, Attempts: 1},
	}
	if err := dlq.NewPublisher(env.js, env.names).Publish(context.Background(), ls); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "worker.yaml")
	writeFile(t, cfgPath, "nats:\n  url: "+natsURL(t, env)+"\n"+storesDestination)

	out, stderr, code := runWorker(t, "", "dlq", "replay", "--config", cfgPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		`left letter 2 in the DLQ: destination "gone" is not in the configuration: no worker consumes tiktok.rows.gone`,
		`left letter 3 in the DLQ: its subject tiktok.dlq.a.b does not name one destination`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(out, "replayed 1 letters") || !strings.Contains(out, "left 2 letters in the DLQ") {
		t.Errorf("stdout:\n%s", out)
	}
	left, err := dlq.List(context.Background(), env.js, env.names, dlq.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || left[0].Destination != "gone" || left[1].Destination != "a.b" {
		t.Fatalf("left in the DLQ: %+v", left)
	}
	rows, _ := env.js.Stream(context.Background(), env.names.RowsStream)
	if info, _ := rows.Info(context.Background()); info.State.Msgs != 1 || info.State.NumSubjects != 1 {
		t.Fatalf("rows stream: %d messages on %d subjects, want 1 on tiktok.rows.stores", info.State.Msgs, info.State.NumSubjects)
	}

	// Without destinations in the configuration, replay does not guess.
	_, stderr, code = runWorker(t, "", "dlq", "replay", "--config", env.config)
	if code != 2 || !strings.Contains(stderr, "replay needs the workers' configuration") {
		t.Fatalf("replay without destinations: exit %d, %q", code, stderr)
	}
}

func TestUnknownSubcommands(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus" for "worker"`},
		{[]string{"dlq", "bogus"}, `unknown command "bogus" for "worker dlq"`},
		{[]string{"dlq", "replya"}, `did you mean "replay"?`},
		{[]string{"publsh"}, `did you mean "publish"?`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, stderr, code := runWorker(t, "", tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "Usage:") {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2, usage and %q", code, out, stderr, tc.want)
			}
		})
	}
	for _, args := range [][]string{{}, {"dlq"}} {
		out, _, code := runWorker(t, "", args...)
		if code != 0 || !strings.Contains(out, "Available Commands") {
			t.Errorf("worker %v: exit %d, %q; want the help", args, code, out)
		}
	}
}

// TestValidateChecksNATS: validate checks that NATS answers, that JetStream is on and
// that the topology is there or can be made, one line each, next to TikTok's checks.
func TestValidateChecksNATS(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	srv.AddToken(validateToken)
	t.Setenv("TIKTOK_API_BASE", srv.URL)
	t.Setenv("TIKTOK_ACCESS_TOKEN", validateToken)
	t.Setenv("NATS_URL", "")
	js := natstest.RunServer(t)
	_, jsc := natstest.Connect(t, js)
	noJS := natstest.RunServerWith(t, func(o *server.Options) { o.JetStream = false })
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return "nats://" + l.Addr().String()
	}()
	config := func(url string) string {
		p := filepath.Join(t.TempDir(), "config.yaml")
		writeFile(t, p, "nats:\n  url: "+url+"\n"+strings.Replace(storesDestination, `event_source_id: "7654321098765432109"`,
			`event_source_id: "`+tiktoktest.DefaultEventSetID+`"`, 1))
		return p
	}
	tests := []struct {
		name   string
		url    string
		ensure bool
		code   int
		want   []string
	}{
		{"fresh server", js.ClientURL(), false, 0, []string{
			"ok   nats      reachable at nats://127.0.0.1:",
			"ok   jetstream  on (", // the width grows with the longest name
			"ok   topology  not created yet; `worker run` creates TIKTOK_ROWS, TIKTOK_DLQ, worker-stores",
			"ok   stores    offline event set",
		}},
		{"topology present", js.ClientURL(), true, 0, []string{
			"ok   topology  present: TIKTOK_ROWS, TIKTOK_DLQ, worker-stores",
		}},
		{"unreachable", closed, false, 1, []string{
			"FAIL nats      connect to NATS at nats://127.0.0.1:",
			"ok   stores    offline event set",
		}},
		{"no JetStream", noJS.ClientURL(), false, 1, []string{
			"ok   nats      reachable",
			"FAIL jetstream",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.ensure {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := broker.Ensure(ctx, jsc, broker.Topology{Names: broker.NamesFor(""), Destinations: []string{"stores"}}); err != nil {
					t.Fatal(err)
				}
			}
			out, stderr, code := runWorker(t, "", "validate", "--config", config(tt.url), "--timeout", "10s")
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestConfigFootguns: settings that used to be accepted silently or misread, as the
// commands report them.
func TestConfigFootguns(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	srv.AddToken(validateToken)
	t.Setenv("NATS_URL", "")
	t.Setenv("TIKTOK_API_BASE", srv.URL)
	t.Setenv("TIKTOK_ACCESS_TOKEN", "")
	dest := strings.Replace(storesDestination, `event_source_id: "7654321098765432109"`, `event_source_id: "`+tiktoktest.DefaultEventSetID+`"`, 1)
	dir := t.TempDir()
	secret := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, content)
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		env     map[string]string
		config  string
		args    []string
		code    int
		want    []string
		wantErr []string // on stderr
	}{
		{
			name:   "token file with a final CRLF",
			config: "tiktok:\n  access_token_file: " + secret("crlf", validateToken+"\r\n", 0o600) + "\n" + dest,
			args:   []string{"validate"}, code: 0,
			want: []string{"ok   stores"},
		},
		{
			name:   "token file of two lines is a configuration error, not an unreachable TikTok",
			config: "tiktok:\n  access_token_file: " + secret("two", validateToken+"\nsecond\n", 0o600) + "\n" + dest,
			args:   []string{"validate"}, code: 1,
			want: []string{"FAIL config", "tiktok.access_token_file: the secret file", "holds 2 lines: a secret is one line"},
		},
		{
			name:   "token file others can read is a warning",
			config: "tiktok:\n  access_token_file: " + secret("open", validateToken+"\n", 0o644) + "\n" + dest,
			args:   []string{"validate"}, code: 0,
			want:    []string{"ok   stores"},
			wantErr: []string{"warning: tiktok.access_token_file: the secret file", "can be read by its group or by everyone (mode 0644)", "chmod 600"},
		},
		{
			name:   "plain http to a remote TikTok",
			env:    map[string]string{"TIKTOK_API_BASE": "http://203.0.113.9", "TIKTOK_ACCESS_TOKEN": validateToken},
			config: dest,
			args:   []string{"validate"}, code: 1,
			want: []string{"FAIL config", "env TIKTOK_API_BASE: tiktok.api_base: plain http:// to a host that is not loopback", "tiktok.allow_insecure_http: true"},
		},
		{
			name:   "WORKER_HTTP_LISTEN overrides http.listen",
			env:    map[string]string{"WORKER_HTTP_LISTEN": "not-an-address", "TIKTOK_ACCESS_TOKEN": validateToken},
			config: "http:\n  listen: 127.0.0.1:8080\n" + dest,
			args:   []string{"run"}, code: 2,
			wantErr: []string{"env WORKER_HTTP_LISTEN: http.listen:", "not a listen address"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			p := filepath.Join(t.TempDir(), "worker.yaml")
			writeFile(t, p, tt.config)
			out, stderr, code := runWorker(t, "", append(tt.args, "--config", p)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(out+stderr, validateToken) {
				t.Error("the token was printed")
			}
		})
	}
}
