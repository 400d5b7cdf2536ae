package config_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
)

// env is a fake environment for getenv.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// minimal is one valid destination.
const minimal = `
destinations:
  - name: stores
    advertiser_id: "7654321098765432109"
    event_source: offline
    event_source_id: "7654321098765432109"
`

func parse(t *testing.T, yaml string, e env) (*config.Config, error) {
	t.Helper()
	return config.Parse([]byte(yaml), e.get)
}

func mustParse(t *testing.T, yaml string, e env) *config.Config {
	t.Helper()
	c, err := parse(t, yaml, e)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	c, err := config.Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	d := mustParse(t, minimal, nil)
	dest := d.Destinations[0]
	for _, tc := range []struct {
		key       string
		got, want any
	}{
		{"nats.url", c.NATS.URL, ""},
		{"nats.creds_file", c.NATS.CredsFile, ""},
		{"nats.nkey_file", c.NATS.NKeyFile, ""},
		{"nats.data_dir", c.NATS.DataDir, "./data"},
		{"nats.replicas", c.NATS.Replicas, 1},
		{"nats.subject_prefix", c.NATS.SubjectPrefix, "tiktok"},
		{"tiktok.api_base", c.TikTok.APIBase, "https://business-api.tiktok.com"},
		{"tiktok.access_token_env", c.TikTok.AccessTokenEnv, "TIKTOK_ACCESS_TOKEN"},
		{"tiktok.app_secret_env", c.TikTok.AppSecretEnv, "TIKTOK_APP_SECRET"},
		{"tiktok.refresh_token_env", c.TikTok.RefreshTokenEnv, "TIKTOK_REFRESH_TOKEN"},
		{"tiktok.rate_limit", c.TikTok.RateLimit, 1000.0},
		{"tiktok.request_timeout", c.TikTok.RequestTimeout.D(), 30 * time.Second},
		{"delivery.batch_size", c.Delivery.BatchSize, 1000},
		{"delivery.max_wait", c.Delivery.MaxWait.D(), time.Second},
		{"delivery.in_flight", c.Delivery.InFlight, 4},
		{"delivery.max_elapsed", c.Delivery.MaxElapsed.D(), 15 * time.Minute},
		{"delivery.max_deliver", c.Delivery.MaxDeliver, 50},
		{"delivery.ack_wait", c.Delivery.AckWait.D(), 60 * time.Second},
		{"delivery.worker_replicas", c.Delivery.Replicas, 2},
		{"delivery.max_ack_pending", c.Delivery.MaxAckPending, 2 * (5*1000 + 500)},
		{"delivery.drain_timeout", c.Delivery.DrainTimeout.D(), 30 * time.Second},
		{"dedup.retention", c.Dedup.Retention.D(), 29 * 24 * time.Hour},
		{"dlq.retention", c.DLQ.Retention.D(), 30 * 24 * time.Hour},
		{"http.listen", c.HTTP.Listen, "127.0.0.1:8080"},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "auto"},
		{"destinations", len(c.Destinations), 0},
		{"destinations[0].window", dest.Window.D(), 28 * 24 * time.Hour},
		{"destinations[0].phone_region", dest.PhoneRegion, "US"},
		{"destinations[0].fixed_event_name", dest.FixedEventName, ""},
		{"destinations[0].limited_data_use", dest.LimitedDataUse, false},
		{"destinations[0].auto_tracking", dest.AutoTracking, false},
		{"destinations[0].test_event_code", dest.TestEventCode, ""},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.key, tc.got, tc.want)
		}
	}
	// An empty or comments-only file is the defaults too.
	for _, src := range []string{"", "# nothing\n", "---\n"} {
		if got := mustParse(t, src, nil); got.Redacted() != c.Redacted() {
			t.Errorf("Parse(%q) differs from the defaults:\n%s", src, got.Redacted())
		}
	}
}

func TestFileValuesAndNullKeepsDefault(t *testing.T) {
	c := mustParse(t, `
nats:
  url: nats://a:4222,nats://b:4222
  replicas: 3
  subject_prefix: acme.tiktok
tiktok:
  rate_limit: 12.5
delivery:
  batch_size: 500
  max_wait: 250ms
  max_ack_pending: 40000
dedup:
  retention:    # empty: keeps the default
http:
  listen: ""    # "" disables HTTP
log:
  level: debug
  format: json
destinations:
  - name: shop
    advertiser_id: 7654321098765432109   # unquoted: kept as written
    event_source: web
    event_source_id: C4ABCDEFGH1234567890
    fixed_event_name: MyCustomEvent
    window: 24h
    phone_region: gb
    limited_data_use: true
    test_event_code: TEST123
`, nil)
	d := c.Destinations[0]
	for _, tc := range []struct {
		key       string
		got, want any
	}{
		{"nats.url", c.NATS.URL, "nats://a:4222,nats://b:4222"},
		{"nats.replicas", c.NATS.Replicas, 3},
		{"nats.subject_prefix", c.NATS.SubjectPrefix, "acme.tiktok"},
		{"tiktok.rate_limit", c.TikTok.RateLimit, 12.5},
		{"delivery.batch_size", c.Delivery.BatchSize, 500},
		{"delivery.max_wait", c.Delivery.MaxWait.D(), 250 * time.Millisecond},
		{"delivery.max_ack_pending", c.Delivery.MaxAckPending, 40000},
		{"dedup.retention", c.Dedup.Retention.D(), 48 * time.Hour}, // the largest window (24h) + 24h
		{"http.listen", c.HTTP.Listen, ""},
		{"log.level", c.Log.Level, "debug"},
		{"log.format", c.Log.Format, "json"},
		{"advertiser_id", d.AdvertiserID, "7654321098765432109"},
		{"fixed_event_name", d.FixedEventName, "MyCustomEvent"},
		{"window", d.Window.D(), 24 * time.Hour},
		{"phone_region", d.PhoneRegion, "GB"},
		{"limited_data_use", d.LimitedDataUse, true},
		{"test_event_code", d.TestEventCode, "TEST123"},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.key, tc.got, tc.want)
		}
	}
	if c.Destination("shop") != &c.Destinations[0] || c.Destination("nope") != nil {
		t.Error("Destination(name) does not find the destination by name")
	}
}

func TestEnvOverrides(t *testing.T) {
	file := `
nats:
  url: nats://file:4222
  creds_file: /file.creds
  nkey_file: ""
tiktok:
  api_base: https://file.example
`
	for _, tc := range []struct {
		env  string
		val  string
		get  func(*config.Config) string
		file string // the value when the variable is unset
	}{
		{"NATS_URL", "nats://env:4222", func(c *config.Config) string { return c.NATS.URL }, "nats://file:4222"},
		{"NATS_CREDS", "/env.creds", func(c *config.Config) string { return c.NATS.CredsFile }, "/file.creds"},
		{"NATS_NKEY", "/env.nk", func(c *config.Config) string { return c.NATS.NKeyFile }, ""},
		{"TIKTOK_API_BASE", "http://127.0.0.1:9090", func(c *config.Config) string { return c.TikTok.APIBase }, "https://file.example"},
		{"TIKTOK_ACCESS_TOKEN", "tok-from-env", func(c *config.Config) string { return c.TikTok.AccessToken }, ""},
		{"TIKTOK_APP_SECRET", "app-secret-env", func(c *config.Config) string { return c.TikTok.AppSecret }, ""},
		{"TIKTOK_REFRESH_TOKEN", "refresh-env", func(c *config.Config) string { return c.TikTok.RefreshToken }, ""},
	} {
		t.Run(tc.env, func(t *testing.T) {
			src := file
			if tc.env == "NATS_NKEY" {
				src = strings.Replace(src, "  creds_file: /file.creds\n", "", 1) // creds and nkey exclude each other
			}
			if got := tc.get(mustParse(t, src, nil)); got != tc.file {
				t.Errorf("without %s: %q, want the file's %q", tc.env, got, tc.file)
			}
			if got := tc.get(mustParse(t, src, env{tc.env: tc.val})); got != tc.val {
				t.Errorf("with %s=%q: %q", tc.env, tc.val, got)
			}
			if got := tc.get(mustParse(t, src, env{tc.env: "  "})); got != tc.file {
				t.Errorf("a blank %s overrides: %q", tc.env, got)
			}
		})
	}
}

func TestSecretVariableNames(t *testing.T) {
	c := mustParse(t, `
tiktok:
  access_token_env: ACME_TT_TOKEN
  app_secret_env: ACME_SECRET
  refresh_token_env: ACME_REFRESH
`, env{"ACME_TT_TOKEN": "t1", "ACME_SECRET": "s1", "ACME_REFRESH": "r1", "TIKTOK_ACCESS_TOKEN": "wrong"})
	if c.TikTok.AccessToken != "t1" || c.TikTok.AppSecret != "s1" || c.TikTok.RefreshToken != "r1" {
		t.Errorf("secrets not read from the named variables: %q %q %q", c.TikTok.AccessToken, c.TikTok.AppSecret, c.TikTok.RefreshToken)
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tok := write("token", "file-token\n")
	sec := write("secret", "  file-secret  ")
	ref := write("refresh", "file-refresh")
	empty := write("empty", "\n")
	c := mustParse(t, fmt.Sprintf(`
tiktok:
  access_token_file: %s
  app_secret_file: %s
  refresh_token_file: %s
`, tok, sec, ref), env{"TIKTOK_ACCESS_TOKEN": "env-token"})
	if c.TikTok.AccessToken != "file-token" || c.TikTok.AppSecret != "file-secret" || c.TikTok.RefreshToken != "file-refresh" {
		t.Errorf("secrets not read from files (trimmed, file wins over env): %q %q %q", c.TikTok.AccessToken, c.TikTok.AppSecret, c.TikTok.RefreshToken)
	}
	for _, tc := range []struct{ key, path, want string }{
		{"access_token_file", filepath.Join(dir, "missing"), "cannot read the secret file"},
		{"app_secret_file", empty, "is empty"},
		{"refresh_token_file", dir, "cannot read the secret file"}, // a directory
	} {
		_, err := parse(t, fmt.Sprintf("tiktok:\n  %s: %s\n", tc.key, tc.path), nil)
		assertErr(t, err, "tiktok."+tc.key, "", tc.want)
	}
}

// assertErr checks that err holds a *FieldError for key (in destination dest, when
// given) whose text contains want.
func assertErr(t *testing.T, err error, key, dest, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one about %s", key)
	}
	for _, e := range flatten(err) {
		var fe *config.FieldError
		if !errors.As(e, &fe) || fe.Key != key {
			continue
		}
		if dest != "" && (fe.Destination != dest || !strings.Contains(fe.Error(), "("+dest+")")) {
			t.Errorf("error for %s does not name destination %q: %v", key, dest, fe)
		}
		if !strings.Contains(fe.Error(), want) {
			t.Errorf("error for %s = %q, want it to contain %q", key, fe.Error(), want)
		}
		keyShown := key
		if i := strings.Index(key, "]."); i > 0 {
			keyShown = key[i+2:]
		}
		if !strings.Contains(fe.Error(), keyShown) {
			t.Errorf("error %q does not show the key %q", fe.Error(), keyShown)
		}
		return
	}
	t.Errorf("no error for key %s in:\n%v", key, err)
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestValidationErrors(t *testing.T) {
	dest := func(fields string) string {
		return "destinations:\n  - name: stores\n" + fields
	}
	const offline = "    advertiser_id: \"1\"\n    event_source: offline\n    event_source_id: \"2\"\n"
	for _, tc := range []struct {
		name, yaml, key, dest, want string
	}{
		{"nats url", "nats:\n  url: http://x:4222\n", "nats.url", "", "not a NATS server address"},
		{"nats url list entry", "nats:\n  url: nats://a:4222,,nats://b\n", "nats.url", "", "entry 2"},
		{"nats url bad port", "nats:\n  url: nats://a:99999\n", "nats.url", "", "entry 1"},
		{"nats url from env", "", "nats.url", "", "env NATS_URL"},
		{"data dir", "nats:\n  data_dir: \"\"\n", "nats.data_dir", "", "must not be empty"},
		{"replicas", "nats:\n  replicas: 0\n", "nats.replicas", "", "1 to 5"},
		{"subject prefix", "nats:\n  subject_prefix: a..b\n", "nats.subject_prefix", "", "not a subject prefix"},
		{"subject prefix wildcard", "nats:\n  subject_prefix: tik*\n", "nats.subject_prefix", "", "not a subject prefix"},
		{"tls pair", "nats:\n  tls_cert: /c.pem\n", "nats.tls_cert", "", "set both"},
		{"creds and nkey", "nats:\n  creds_file: /a\n  nkey_file: /b\n", "nats.nkey_file", "", "not both"},
		{"api base", "tiktok:\n  api_base: business-api.tiktok.com\n", "tiktok.api_base", "", "not an http(s) URL"},
		{"token url", "tiktok:\n  token_url: ftp://x\n", "tiktok.token_url", "", "not an http(s) URL"},
		{"token env name", "tiktok:\n  access_token_env: my-token\n", "tiktok.access_token_env", "", "name of an environment variable"},
		{"secret env name", "tiktok:\n  app_secret_env: \"\"\n", "tiktok.app_secret_env", "", "name of an environment variable"},
		{"refresh env name", "tiktok:\n  refresh_token_env: x y\n", "tiktok.refresh_token_env", "", "name of an environment variable"},
		{"rate limit", "tiktok:\n  rate_limit: 0\n", "tiktok.rate_limit", "", "above 0"},
		{"rate limit nan", "tiktok:\n  rate_limit: .nan\n", "tiktok.rate_limit", "", "above 0"},
		{"request timeout", "tiktok:\n  request_timeout: 0s\n", "tiktok.request_timeout", "", "longer than 0"},
		{"batch size high", "delivery:\n  batch_size: 1001\n", "delivery.batch_size", "", "1 to 1000"},
		{"batch size low", "delivery:\n  batch_size: 0\n", "delivery.batch_size", "", "1 to 1000"},
		{"max wait", "delivery:\n  max_wait: -1s\n", "delivery.max_wait", "", "longer than 0"},
		{"in flight", "delivery:\n  in_flight: 0\n", "delivery.in_flight", "", "at least 1"},
		{"max elapsed", "delivery:\n  max_elapsed: 0s\n", "delivery.max_elapsed", "", "longer than 0"},
		{"max deliver", "delivery:\n  max_deliver: 0\n", "delivery.max_deliver", "", "at least 1"},
		{"ack wait", "delivery:\n  ack_wait: 0s\n", "delivery.ack_wait", "", "longer than 0"},
		{"max ack pending", "delivery:\n  max_ack_pending: -5\n", "delivery.max_ack_pending", "", "positive"},
		{"worker replicas", "delivery:\n  worker_replicas: 0\n", "delivery.worker_replicas", "", "at least 1"},
		{"drain timeout", "delivery:\n  drain_timeout: 0s\n", "delivery.drain_timeout", "", "longer than 0"},
		{"dedup retention", "dedup:\n  retention: -1h\n", "dedup.retention", "", "want 0"},
		{"dedup ttl retired", "dedup:\n  ttl: 168h\n", "dedup.ttl", "", "replaced by dedup.retention"},
		{"dedup bucket retired", "dedup:\n  bucket: TIKTOK_DEDUP\n", "dedup.bucket", "", "sent log stream"},
		{"dlq retention", "dlq:\n  retention: 0s\n", "dlq.retention", "", "longer than 0"},
		{"http listen", "http:\n  listen: localhost\n", "http.listen", "", "not a listen address"},
		{"http listen port", "http:\n  listen: :http\n", "http.listen", "", "not a listen address"},
		{"log level", "log:\n  level: verbose\n", "log.level", "", "not a level"},
		{"log format", "log:\n  format: xml\n", "log.format", "", "not a format"},
		{"destinations not a list", "destinations:\n  name: x\n", "destinations", "", "want a list"},
		{"name missing", "destinations:\n  - advertiser_id: \"1\"\n    event_source: web\n    event_source_id: P1\n", "destinations[0].name", "", "required"},
		{"name bad", "destinations:\n  - name: my.stores\n" + offline, "destinations[0].name", "my.stores", "letters, digits"},
		{"name too long", "destinations:\n  - name: " + strings.Repeat("a", 65) + "\n" + offline, "destinations[0].name", "", "1 to 64"},
		{"name duplicate", dest(offline) + "  - name: stores\n" + offline, "destinations[1].name", "stores", "destinations[0] has the same name"},
		{"advertiser missing", dest("    event_source: offline\n    event_source_id: \"2\"\n"), "destinations[0].advertiser_id", "stores", "required"},
		{"advertiser digits", dest("    advertiser_id: adv-1\n    event_source: offline\n    event_source_id: \"2\"\n"), "destinations[0].advertiser_id", "stores", "digits only"},
		{"event source missing", dest("    advertiser_id: \"1\"\n    event_source_id: \"2\"\n"), "destinations[0].event_source", "stores", "required: offline, web or crm"},
		{"event source bad", dest("    advertiser_id: \"1\"\n    event_source: app\n    event_source_id: \"2\"\n"), "destinations[0].event_source", "stores", `"app" is not an event source`},
		{"event source id missing", dest("    advertiser_id: \"1\"\n    event_source: web\n"), "destinations[0].event_source_id", "stores", "required"},
		{"offline id digits", dest("    advertiser_id: \"1\"\n    event_source: offline\n    event_source_id: C4AB\n"), "destinations[0].event_source_id", "stores", "digits only"},
		{"crm id digits", dest("    advertiser_id: \"1\"\n    event_source: crm\n    event_source_id: C4AB\n"), "destinations[0].event_source_id", "stores", "CRM event set id"},
		{"pixel code", dest("    advertiser_id: \"1\"\n    event_source: web\n    event_source_id: C4-AB\n"), "destinations[0].event_source_id", "stores", "Pixel code"},
		{"fixed event name spaces", dest(offline + "    fixed_event_name: \" Purchase\"\n"), "destinations[0].fixed_event_name", "stores", "spaces"},
		{"fixed event name not standard (offline)", dest(offline + "    fixed_event_name: MyEvent\n"), "destinations[0].fixed_event_name", "stores", "standard event name"},
		{"fixed event name case (web)", dest("    advertiser_id: \"1\"\n    event_source: web\n    event_source_id: P1\n    fixed_event_name: purchase\n"), "destinations[0].fixed_event_name", "stores", `did you mean "Purchase"?`},
		{"window too short", dest(offline + "    window: 500ms\n"), "destinations[0].window", "stores", "shorter than 1s"},
		{"window too long", dest(offline + "    window: 700h\n"), "destinations[0].window", "stores", "700h is longer than TikTok's 28-day attribution window (672h)"},
		{"window negative", dest(offline + "    window: -1h\n"), "destinations[0].window", "stores", "negative"},
		{"phone region", dest(offline + "    phone_region: XX\n"), "destinations[0].phone_region", "stores", `"XX" is not a region`},
		{"phone region long", dest(offline + "    phone_region: USA\n"), "destinations[0].phone_region", "stores", "not a region"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e env
			if tc.name == "nats url from env" {
				e = env{"NATS_URL": "http://user:hunter2@x"}
			}
			_, err := parse(t, tc.yaml, e)
			assertErr(t, err, tc.key, tc.dest, tc.want)
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows a password: %v", err)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "worker.yaml")
	src := "delivery:\n  batch_size: 2000\ndestinations:\n  - name: stores\n    advertiser_id: \"1\"\n    event_source: offline\n    event_source_id: \"2\"\n    window: 700h\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path, nil)
	want := []string{
		path + ":2: delivery.batch_size: 2000 is out of range: want 1 to 1000 (TikTok refuses a request with more than 1000 events)",
		path + ":8: destinations[0] (stores): window: 700h is longer than TikTok's 28-day attribution window (672h)",
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("Load error:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	if _, err := config.Load(filepath.Join(dir, "nope.yaml"), nil); err == nil || !strings.Contains(err.Error(), "nope.yaml") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}

func TestAllProblemsAtOnce(t *testing.T) {
	_, err := parse(t, `
nats: {replicas: 0}
delivery: {batch_size: 0, in_flight: 0, max_wait: 5}
tiktok: {colour: red}
destinations:
  - {name: a, event_source: web}
  - {name: a, windw: 1h}
`, nil)
	for _, key := range []string{"nats.replicas", "delivery.batch_size", "delivery.in_flight", "delivery.max_wait", "tiktok.colour",
		"destinations[0].advertiser_id", "destinations[0].event_source_id", "destinations[1].name", "destinations[1].windw", "destinations[1].event_source"} {
		assertErr(t, err, key, "", "")
	}
	if n := len(flatten(err)); n < 10 {
		t.Errorf("%d errors, want every problem at once:\n%v", n, err)
	}
	// In file order.
	lines := strings.Split(err.Error(), "\n")
	if !strings.HasPrefix(lines[0], "line 2: nats.replicas") || !strings.HasPrefix(lines[len(lines)-1], "line 7:") {
		t.Errorf("errors not in file order:\n%v", err)
	}
}

func TestUnknownKeys(t *testing.T) {
	for _, tc := range []struct{ yaml, key, dest, want string }{
		{"natz:\n  url: x\n", "natz", "", `unknown key (did you mean "nats"?)`},
		{"nats:\n  ulr: nats://x\n", "nats.ulr", "", `did you mean "url"?`},
		{"nats:\n  URL: nats://x\n", "nats.URL", "", `did you mean "url"?`},
		{"delivery:\n  batchsize: 10\n", "delivery.batchsize", "", `did you mean "batch_size"?`},
		{"batch_size: 10\n", "batch_size", "", "did you mean delivery.batch_size? it belongs in another section"},
		{"tiktok:\n  window: 1h\n", "tiktok.window", "", "did you mean destinations[].window?"},
		{"nats:\n  frobnicate: 1\n", "nats.frobnicate", "", "unknown key"},
		{"destinations:\n  - name: stores\n    windw: 1h\n", "destinations[0].windw", "stores", `unknown key (did you mean "window"?)`},
		{"destinations:\n  - name: a\n  - name: web\n    evnt_source: web\n", "destinations[1].evnt_source", "web", `did you mean "event_source"?`},
		{"nats:\n  url: a\n  url: b\n", "nats.url", "", "set twice (first at line 2)"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			_, err := parse(t, tc.yaml, nil)
			assertErr(t, err, tc.key, tc.dest, tc.want)
		})
	}
}

func TestTypeErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, key, want string }{
		{"nats: [1, 2]\n", "nats", "want a mapping"},
		{"nats:\n  replicas: three\n", "nats.replicas", `want a whole number, not "three"`},
		{"nats:\n  replicas: 1.5\n", "nats.replicas", "want a whole number"},
		{"nats:\n  url: [a]\n", "nats.url", "want a string, not a list"},
		{"tiktok:\n  rate_limit: fast\n", "tiktok.rate_limit", "want a number"},
		{"destinations:\n  - name: x\n    limited_data_use: yes\n", "destinations[0].limited_data_use", "want true or false"},
		{"[1, 2]\n", "", "must be a YAML mapping"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			_, err := parse(t, tc.yaml, nil)
			assertErr(t, err, tc.key, "", tc.want)
		})
	}
	_, err := parse(t, "nats:\n  url: [\n", nil)
	if err == nil || !strings.Contains(err.Error(), "not valid YAML") {
		t.Errorf("a syntax error: %v", err)
	}
}

func TestDurations(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"15m", 15 * time.Minute, ""},
		{"168h", 168 * time.Hour, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"250ms", 250 * time.Millisecond, ""},
		{`"2s"`, 2 * time.Second, ""},
		{"5", 0, "5 has no unit: write it as 5s, 5m or 5h"},
		{"1.5", 0, "1.5 has no unit"},
		{"0", 0, "longer than 0"}, // a unit-less 0 parses, then fails the range check
		{"7d", 0, `"7d" is not a duration`},
		{"soon", 0, `"soon" is not a duration`},
		{"[1s]", 0, "want a duration such as 30s"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			c, err := parse(t, "delivery:\n  max_elapsed: "+tc.in+"\n", nil)
			if tc.err != "" {
				assertErr(t, err, "delivery.max_elapsed", "", tc.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Delivery.MaxElapsed.D() != tc.want {
				t.Errorf("%s = %v, want %v", tc.in, c.Delivery.MaxElapsed.D(), tc.want)
			}
		})
	}
	// A destination window of 0 means the default, as it does in pkg/events.
	c := mustParse(t, strings.Replace(minimal, "    name: stores\n", "    name: stores\n    window: 0\n", 1), nil)
	if c.Destinations[0].Window.D() != 672*time.Hour {
		t.Errorf("window 0 = %v, want the default 672h", c.Destinations[0].Window.D())
	}
}

func TestMergeKeys(t *testing.T) {
	c := mustParse(t, `
x-common: &common
  advertiser_id: "7654321098765432109"
  event_source: offline
  event_source_id: "1"
  phone_region: DE
destinations:
  - <<: *common
    name: a
  - <<: *common
    name: b
    phone_region: FR
`[1:], nil)
	a, b := c.Destination("a"), c.Destination("b")
	if a == nil || b == nil || a.EventSourceID != "1" || b.AdvertiserID != "7654321098765432109" || a.PhoneRegion != "DE" || b.PhoneRegion != "FR" {
		t.Errorf("merge keys not applied (own keys must win): %+v", c.Destinations)
	}
}

func TestCheckRun(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		env        env
		key, want  string // "" key: no error
	}{
		{"ok", minimal, env{"TIKTOK_ACCESS_TOKEN": "t"}, "", ""},
		{"no destination", "", env{"TIKTOK_ACCESS_TOKEN": "t"}, "destinations", "none configured"},
		{"no token", minimal, nil, "tiktok.access_token_env", "export the advertiser's long-term access token as TIKTOK_ACCESS_TOKEN"},
		{"custom token variable", "tiktok:\n  access_token_env: ACME_TOKEN\n" + minimal, env{"TIKTOK_ACCESS_TOKEN": "t"}, "tiktok.access_token_env", "as ACME_TOKEN"},
		{"refresh flow", "tiktok:\n  app_id: \"123\"\n" + minimal, env{"TIKTOK_APP_SECRET": "s", "TIKTOK_REFRESH_TOKEN": "r"}, "", ""},
		{"refresh flow without secret", "tiktok:\n  app_id: \"123\"\n" + minimal, env{"TIKTOK_REFRESH_TOKEN": "r"}, "tiktok.app_secret_env", "TIKTOK_APP_SECRET is empty"},
		{"refresh flow without refresh token", "tiktok:\n  app_id: \"123\"\n" + minimal, env{"TIKTOK_APP_SECRET": "s"}, "tiktok.refresh_token_env", "TIKTOK_REFRESH_TOKEN is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, tc.yaml, tc.env) // Load accepts all of these
			err := c.CheckRun()
			if tc.key == "" {
				if err != nil {
					t.Errorf("CheckRun: %v", err)
				}
				return
			}
			assertErr(t, err, tc.key, "", tc.want)
		})
	}
	// CheckRun includes Validate, for a Config built in code.
	c := config.Default()
	c.Destinations = []config.Destination{{Name: "x y", AdvertiserID: "1", EventSource: "web", EventSourceID: "P"}}
	c.TikTok.AccessToken = "t"
	assertErr(t, c.CheckRun(), "destinations[0].name", "x y", "letters, digits")
}

func TestValidateOnDefaultConfig(t *testing.T) {
	c := config.Default()
	c.Destinations = []config.Destination{{Name: "a", AdvertiserID: "1", EventSource: "offline", EventSourceID: "2"}}
	if err := c.Validate(); err != nil {
		t.Errorf("Default() with a destination whose window and region are zero: %v", err)
	}
}

func TestWarnings(t *testing.T) {
	c := mustParse(t, `
delivery:
  max_ack_pending: 1000
destinations:
  - name: stores
    advertiser_id: "1"
    event_source: offline
    event_source_id: "2"
    limited_data_use: true
  - name: shop
    advertiser_id: "1"
    event_source: web
    event_source_id: P1
    auto_tracking: true
  - name: leads
    advertiser_id: "1"
    event_source: crm
    event_source_id: "3"
    limited_data_use: true
    auto_tracking: true
`, nil)
	if d := c.Destinations[2]; d.EventSource != "crm" || d.EventSourceID != "3" {
		t.Errorf("crm destination parsed as %+v", d)
	}
	got := strings.Join(c.Warnings(), "\n")
	for _, want := range []string{
		"destinations[0] (stores): limited_data_use: only applies to web events",
		"destinations[1] (shop): auto_tracking: only applies to offline event sets",
		"destinations[2] (leads): limited_data_use: only applies to web events; ignored for this crm destination",
		"destinations[2] (leads): auto_tracking: only applies to offline event sets; ignored for this crm destination",
		"delivery.max_ack_pending: 1000 is less than",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
	if w := mustParse(t, minimal, nil).Warnings(); len(w) != 0 {
		t.Errorf("warnings for a plain config: %q", w)
	}
}

func TestEffectiveRetention(t *testing.T) {
	const dest = `advertiser_id: "1", event_source: offline, event_source_id: "2"`
	for _, tc := range []struct {
		name string
		src  string
		want time.Duration
	}{
		{"default, no destination", "", 696 * time.Hour},
		{"the largest window + 24h", "destinations:\n  - {name: a, window: 48h, " + dest + "}\n  - {name: b, window: 240h, " + dest + "}\n", 264 * time.Hour},
		{"set", "dedup:\n  retention: 720h\ndestinations:\n  - {name: a, window: 48h, " + dest + "}\n", 720 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, tc.src, nil)
			if got := c.Dedup.Retention.D(); got != tc.want {
				t.Errorf("dedup.retention = %s, want %s", got, tc.want)
			}
			if got := c.EffectiveRetention(); got != tc.want {
				t.Errorf("EffectiveRetention = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestEffectiveMaxAckPending(t *testing.T) {
	for _, tc := range []struct {
		d    config.Delivery
		want int
	}{
		{config.Delivery{BatchSize: 1000, InFlight: 4, Replicas: 2}, 11000},
		{config.Delivery{BatchSize: 100, InFlight: 1, Replicas: 3}, 3 * (2*100 + config.PullBuffer)},
		{config.Delivery{BatchSize: 1000, InFlight: 4, Replicas: 2, MaxAckPending: 7}, 7},
		{config.Delivery{}, 1 * (2*1000 + config.PullBuffer)}, // zero values: sane, never 0
	} {
		if got := tc.d.EffectiveMaxAckPending(); got != tc.want {
			t.Errorf("%+v: %d, want %d", tc.d, got, tc.want)
		}
	}
}

func TestSecretKeysInFileRejected(t *testing.T) {
	const secret = "ZZ-secret-value-7f3a"
	for _, tc := range []struct{ yaml, key, want string }{
		{"tiktok:\n  access_token: " + secret + "\n", "tiktok.access_token", "TIKTOK_ACCESS_TOKEN"},
		{"tiktok:\n  app_secret: " + secret + "\n", "tiktok.app_secret", "TIKTOK_APP_SECRET"},
		{"tiktok:\n  refresh_token: " + secret + "\n", "tiktok.refresh_token", "TIKTOK_REFRESH_TOKEN"},
		{"tiktok:\n  client_secret: " + secret + "\n", "tiktok.client_secret", "app_secret_file"},
		{"access_token: " + secret + "\n", "access_token", "access_token_file"},
		{"nats:\n  password: " + secret + "\n", "nats.password", "NATS_CREDS"},
		{"nats:\n  token: " + secret + "\n", "nats.token", "nkey_file"},
		{"destinations:\n  - name: a\n    access_token: " + secret + "\n", "destinations[0].access_token", "environment variable"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			_, err := parse(t, tc.yaml, nil)
			assertErr(t, err, tc.key, "", tc.want)
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// TestSecretsNeverShown puts secrets everywhere they can come from, triggers every
// error path that touches them, and looks for them in every output.
func TestSecretsNeverShown(t *testing.T) {
	secrets := env{
		"TIKTOK_ACCESS_TOKEN":  "tok-7c1e9d0f-SECRET",
		"TIKTOK_APP_SECRET":    "app-4b2a-SECRET",
		"TIKTOK_REFRESH_TOKEN": "ref-99e0-SECRET",
		"NATS_URL":             "nats://worker:natspw-SECRET@127.0.0.1:4222",
	}
	var outputs []string
	// A valid config: its printed forms.
	c := mustParse(t, "tiktok:\n  app_id: \"42\"\n"+minimal, secrets)
	if c.TikTok.AccessToken != secrets["TIKTOK_ACCESS_TOKEN"] {
		t.Fatal("token not resolved")
	}
	js, _ := json.Marshal(c)
	outputs = append(outputs, c.Redacted(), c.String(), fmt.Sprint(c), fmt.Sprintf("%v %+v", *c, c), fmt.Sprintf("%+v %#v %v", c.TikTok, c.TikTok, c.TikTok), string(js))
	// Broken configs.
	for _, y := range []string{
		"tiktok:\n  access_token_env: tok-7c1e9d0f-SECRET\n",
		"tiktok:\n  access_token: tok-7c1e9d0f-SECRET\n",
		"tiktok:\n  access_token: tok-7c1e9d0f-SECRET\n  access_token: tok-7c1e9d0f-SECRET\n",
		"tiktok: {access_token: \"tok-7c1e9d0f-SECRET\n",
		"nats:\n  url: \"nats://worker:natspw-SECRET@127.0.0.1:4222,http://x\"\n",
		"nats:\n  url: \"nats://worker:natspw-SECRET@\"\n",
	} {
		noURL := env{}
		for k, v := range secrets {
			if k != "NATS_URL" {
				noURL[k] = v
			}
		}
		_, err := parse(t, y, noURL)
		if err == nil {
			t.Errorf("no error for %q", y)
			continue
		}
		outputs = append(outputs, err.Error())
	}
	if err := (&config.Config{}).CheckRun(); err != nil {
		outputs = append(outputs, err.Error())
	}
	for _, out := range outputs {
		for _, s := range []string{"tok-7c1e9d0f", "app-4b2a", "ref-99e0", "natspw"} {
			if strings.Contains(out, s) {
				t.Errorf("output shows secret %q:\n%s", s, out)
			}
		}
	}
	if !strings.Contains(c.Redacted(), "access token set") || !strings.Contains(c.Redacted(), "nats://redacted@127.0.0.1:4222") {
		t.Errorf("Redacted does not say what is set:\n%s", c.Redacted())
	}
}

func TestRedactedRoundTrips(t *testing.T) {
	c := mustParse(t, "tiktok:\n  rate_limit: 12\n"+minimal, nil)
	back, err := config.Parse([]byte(c.Redacted()), nil)
	if err != nil {
		t.Fatalf("Redacted output does not parse: %v\n%s", err, c.Redacted())
	}
	if back.Redacted() != c.Redacted() {
		t.Errorf("round trip differs:\n%s\n---\n%s", c.Redacted(), back.Redacted())
	}
}

// TestExamples keeps the shipped example files valid and complete.
func TestExamples(t *testing.T) {
	for _, name := range []string{"config.yaml", "compose-config.yaml"} {
		t.Run(name, func(t *testing.T) {
			c, err := config.Load(filepath.Join("..", "..", "examples", name), env{"TIKTOK_ACCESS_TOKEN": "t"}.get)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.CheckRun(); err != nil {
				t.Error(err)
			}
		})
	}
	// examples/config.yaml documents every key.
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range keysOf(reflect.TypeFor[config.Config]()) {
		if !strings.Contains(string(b), " "+key+":") && !strings.HasPrefix(string(b), key+":") && !strings.Contains(string(b), "\n"+key+":") {
			t.Errorf("examples/config.yaml does not show the key %q", key)
		}
	}
}

func keysOf(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		out = append(out, tag)
		ft := f.Type
		if ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			out = append(out, keysOf(ft)...)
		}
	}
	return out
}

func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-0: &a0 {phone_region: US}\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "x-%d: &a%d {<<: [*a%d, *a%d]}\n", i, i, i-1, i-1)
	}
	b.WriteString("destinations:\n  - <<: *a30\n    name: a\n")
	// Expanded, the document holds 2^30 copies: a loader without the limit would not
	// return before the test binary's timeout, so the error is the whole check (no
	// wall-clock bound, which a loaded machine could break).
	_, err := parse(t, b.String(), nil)
	if err == nil || !strings.Contains(err.Error(), "expands to more than") {
		t.Errorf("no error for an alias bomb: %v", err)
	}
}
