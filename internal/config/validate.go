package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
)

var (
	// A destination name is one NATS subject token and part of a consumer name.
	nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	// Environment variable names are upper case by convention; requiring it also keeps a
	// (lower-case hex) token pasted into *_env out of every message.
	envNameRE   = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	digitsRE    = regexp.MustCompile(`^[0-9]+$`)
	pixelCodeRE = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	tokenRE     = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

const maxNameLen = 64

func parse(file string, data []byte, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	cfg := Default()
	cfg.origin = map[string]string{}
	d := &decoder{file: file, origin: cfg.origin}
	d.decodeFile(data, cfg)
	errs := d.errs
	cfg.applyEnv(getenv)
	for i := range cfg.Destinations {
		cfg.Destinations[i].PhoneRegion = strings.ToUpper(strings.TrimSpace(cfg.Destinations[i].PhoneRegion))
	}
	errs = append(errs, cfg.resolveSecrets(getenv)...)
	errs = append(errs, errorsOf(cfg.Validate())...)
	if len(errs) > 0 {
		// In file order, so that the list reads top to bottom; env and unplaced last.
		sort.SliceStable(errs, func(i, j int) bool { return lineOf(errs[i]) < lineOf(errs[j]) })
		return nil, errors.Join(errs...)
	}
	cfg.Delivery.MaxAckPending = cfg.Delivery.EffectiveMaxAckPending()
	cfg.Dedup.Retention = Duration(cfg.EffectiveRetention())
	return cfg, nil
}

// lineOf is the line number in the Source of a *FieldError, or a large number.
func lineOf(err error) int {
	if fe, ok := err.(*FieldError); ok {
		if i := strings.LastIndexAny(fe.Source, ": "); i >= 0 {
			if n, err := strconv.Atoi(fe.Source[i+1:]); err == nil {
				return n
			}
		}
	}
	return math.MaxInt
}

// applyEnv lets the environment override the connection settings: a variable that is
// set and not empty wins over the file.
func (c *Config) applyEnv(getenv func(string) string) {
	for _, o := range []struct {
		env, key string
		dst      *string
	}{
		{"NATS_URL", "nats.url", &c.NATS.URL},
		{"NATS_CREDS", "nats.creds_file", &c.NATS.CredsFile},
		{"NATS_NKEY", "nats.nkey_file", &c.NATS.NKeyFile},
		{"TIKTOK_API_BASE", "tiktok.api_base", &c.TikTok.APIBase},
		{"WORKER_HTTP_LISTEN", "http.listen", &c.HTTP.Listen},
	} {
		if v := strings.TrimSpace(getenv(o.env)); v != "" {
			*o.dst = v
			c.origin[o.key] = "env " + o.env
		}
	}
}

// resolveSecrets reads the token, app secret and refresh token: from the file named by
// *_file when it is set, else from the variable named by *_env. A missing secret is
// not an error here (dlq and publish need none); CheckRun reports it.
func (c *Config) resolveSecrets(getenv func(string) string) []error {
	var errs []error
	t := &c.TikTok
	for _, s := range []struct {
		envKey, fileKey string
		env, file       string
		dst             *string
	}{
		{"tiktok.access_token_env", "tiktok.access_token_file", t.AccessTokenEnv, t.AccessTokenFile, &t.AccessToken},
		{"tiktok.app_secret_env", "tiktok.app_secret_file", t.AppSecretEnv, t.AppSecretFile, &t.AppSecret},
		{"tiktok.refresh_token_env", "tiktok.refresh_token_file", t.RefreshTokenEnv, t.RefreshTokenFile, &t.RefreshToken},
	} {
		switch {
		case s.file != "":
			b, err := os.ReadFile(s.file)
			if err != nil {
				// The os error names the path and the cause, never the content.
				errs = append(errs, c.fieldError(s.fileKey, "", "cannot read the secret file: %v", err))
				continue
			}
			v, bad := secretValue(string(b))
			if bad != "" {
				errs = append(errs, c.fieldError(s.fileKey, "", "the secret file %s %s", s.file, bad))
				continue
			}
			if v == "" {
				errs = append(errs, c.fieldError(s.fileKey, "", "the secret file %s is empty", s.file))
				continue
			}
			if w := secretFileWarning(s.fileKey, s.file); w != "" {
				c.warnings = append(c.warnings, w)
			}
			*s.dst = v
		case envNameRE.MatchString(s.env):
			v, bad := secretValue(getenv(s.env))
			if bad != "" {
				errs = append(errs, c.fieldError(s.envKey, "", "the variable %s %s", s.env, bad))
				continue
			}
			*s.dst = v
		}
	}
	return errs
}

// fieldError builds a FieldError whose Source is where key's value came from.
func (c *Config) fieldError(key, dest, format string, args ...any) *FieldError {
	return &FieldError{Key: key, Destination: dest, Source: c.sourceOf(key), Msg: fmt.Sprintf(format, args...)}
}

// sourceOf is the origin of key or, when the key was not in the file (a missing
// required key), of the nearest enclosing one.
func (c *Config) sourceOf(key string) string {
	for key != "" {
		if s, ok := c.origin[key]; ok {
			return s
		}
		if i := strings.LastIndexAny(key, ".["); i > 0 {
			key = key[:i]
		} else {
			return ""
		}
	}
	return ""
}

// Validate checks every value and returns all problems at once (an errors.Join of
// *FieldError), or nil. It accepts a config with no destination and no token; run
// adds those requirements with CheckRun. Zero values that mean "default" (a
// destination's window and phone_region, delivery.max_ack_pending) are accepted, so a
// Config built in code from Default() validates too.
func (c *Config) Validate() error {
	v := &validator{c: c}
	v.nats()
	v.tiktok()
	v.delivery()
	v.rest()
	seen := map[string]int{}
	for i := range c.Destinations {
		v.destination(i, seen)
	}
	return errors.Join(v.errs...)
}

// CheckRun is what `worker run` (and `worker validate`) need beyond a valid file: at
// least one destination, and credentials — an access token, or a complete OAuth
// refresh flow. It includes Validate.
func (c *Config) CheckRun() error {
	errs := errorsOf(c.Validate())
	if len(c.Destinations) == 0 {
		errs = append(errs, c.fieldError("destinations", "", "none configured: run needs at least one destination (see examples/config.yaml)"))
	}
	t := c.TikTok
	if t.AppID != "" {
		if t.AppSecret == "" {
			errs = append(errs, c.fieldError("tiktok.app_secret_env", "", "tiktok.app_id is set, so the refresh flow needs the app secret: %s is empty and tiktok.app_secret_file is not set", t.AppSecretEnv))
		}
		if t.RefreshToken == "" {
			errs = append(errs, c.fieldError("tiktok.refresh_token_env", "", "tiktok.app_id is set, so the refresh flow needs a refresh token: %s is empty and tiktok.refresh_token_file is not set", t.RefreshTokenEnv))
		}
	} else if t.AccessToken == "" {
		errs = append(errs, c.fieldError("tiktok.access_token_env", "", "no access token: export the advertiser's long-term access token as %s, name a file holding it in tiktok.access_token_file, or configure the OAuth refresh flow (tiktok.app_id with %s and %s)", t.AccessTokenEnv, t.AppSecretEnv, t.RefreshTokenEnv))
	}
	return errors.Join(errs...)
}

// Warnings lists settings that are accepted but have no effect or a likely unwanted
// one; run logs each once at start.
func (c *Config) Warnings() []string {
	w := append([]string(nil), c.warnings...)
	for i, d := range c.Destinations {
		at := (&FieldError{Key: fmt.Sprintf("destinations[%d]", i), Destination: d.Name}).prefix()
		if d.EventSource != events.SourceWeb && d.EventSource != "" && d.LimitedDataUse {
			w = append(w, at+"limited_data_use: only applies to web events; ignored for this "+d.EventSource+" destination")
		}
		if d.EventSource != events.SourceOffline && d.EventSource != "" && d.AutoTracking {
			w = append(w, at+"auto_tracking: only applies to offline event sets; ignored for this "+d.EventSource+" destination")
		}
	}
	dl := c.Delivery
	derived := Delivery{BatchSize: dl.BatchSize, InFlight: dl.InFlight, Replicas: dl.Replicas}.EffectiveMaxAckPending()
	if dl.MaxAckPending > 0 && dl.MaxAckPending < derived {
		w = append(w, fmt.Sprintf("delivery.max_ack_pending: %d is less than worker_replicas × ((in_flight + 1) × batch_size + %d) = %d: one replica can hold every un-acked message and starve the others", dl.MaxAckPending, PullBuffer, derived))
	}
	return w
}

// prefix is the key part of Error: "destinations[0] (stores): ".
func (e *FieldError) prefix() string {
	s := e.Error()
	return strings.TrimSuffix(s, e.Msg)
}

type validator struct {
	c    *Config
	errs []error
}

func (v *validator) fail(key, dest, format string, args ...any) {
	v.errs = append(v.errs, v.c.fieldError(key, dest, format, args...))
}

func (v *validator) positive(key string, d Duration) {
	if d <= 0 {
		v.fail(key, "", "must be longer than 0, like 30s, 15m or 168h (got %s)", short(d.D()))
	}
}

func (v *validator) nats() {
	n := v.c.NATS
	if n.URL != "" {
		// Never echo the URL: it may carry a user and password.
		for i, u := range strings.Split(n.URL, ",") {
			if !natsURLOK(strings.TrimSpace(u)) {
				v.fail("nats.url", "", "entry %d of the list is not a NATS server address: want nats://host:4222 (or tls://, ws://, wss://), several separated by commas", i+1)
			}
		}
	} else if strings.TrimSpace(n.DataDir) == "" {
		v.fail("nats.data_dir", "", "must not be empty when nats.url is empty: the embedded server stores its data there")
	}
	if n.Replicas < 1 || n.Replicas > 5 {
		v.fail("nats.replicas", "", "%d is out of range: JetStream allows 1 to 5 (1 on a single server, 3 on a cluster)", n.Replicas)
	}
	if !subjectPrefixOK(n.SubjectPrefix) {
		v.fail("nats.subject_prefix", "", "%q is not a subject prefix: want tokens of letters, digits, _ and - separated by dots, like tiktok", clip(n.SubjectPrefix))
	}
	if (n.TLSCert == "") != (n.TLSKey == "") {
		v.fail("nats.tls_cert", "", "tls_cert and tls_key go together: set both for a client certificate, or neither")
	}
	if n.CredsFile != "" && n.NKeyFile != "" {
		v.fail("nats.nkey_file", "", "set either a credentials file (nats.creds_file, NATS_CREDS) or an NKey seed file (nats.nkey_file, NATS_NKEY), not both")
	}
}

func natsURLOK(s string) bool {
	if s == "" {
		return false
	}
	if !strings.Contains(s, "://") {
		s = "nats://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" {
		return false
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return false
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	return true
}

func subjectPrefixOK(s string) bool {
	if s == "" {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if !tokenRE.MatchString(tok) {
			return false
		}
	}
	return true
}

func httpURLOK(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil && u.RawQuery == ""
}

// insecureRemote reports whether s (a valid http(s) URL) is plain http:// to a host
// other than localhost or a loopback address.
func insecureRemote(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

func (v *validator) tiktok() {
	t := v.c.TikTok
	if !httpURLOK(t.APIBase) {
		v.fail("tiktok.api_base", "", "is not an http(s) URL like https://business-api.tiktok.com (no query, no user)")
	} else if !t.AllowInsecureHTTP && insecureRemote(t.APIBase) {
		v.fail("tiktok.api_base", "", "plain http:// to a host that is not loopback would send the access token unencrypted: use https://, or set tiktok.allow_insecure_http: true for a sandbox on a private network")
	}
	if t.TokenURL != "" && !httpURLOK(t.TokenURL) {
		v.fail("tiktok.token_url", "", "is not an http(s) URL (no query, no user)")
	} else if t.TokenURL != "" && !t.AllowInsecureHTTP && insecureRemote(t.TokenURL) {
		v.fail("tiktok.token_url", "", "plain http:// to a host that is not loopback would send the app secret unencrypted: use https://, or set tiktok.allow_insecure_http: true for a sandbox on a private network")
	}
	for _, e := range []struct{ key, val string }{
		{"tiktok.access_token_env", t.AccessTokenEnv},
		{"tiktok.app_secret_env", t.AppSecretEnv},
		{"tiktok.refresh_token_env", t.RefreshTokenEnv},
	} {
		if !envNameRE.MatchString(e.val) {
			// Not echoed: a user may have pasted the secret itself here.
			v.fail(e.key, "", "must be the name of an environment variable (upper-case letters, digits and _, like TIKTOK_ACCESS_TOKEN), not the secret itself")
		}
	}
	if !(t.RateLimit > 0) || math.IsInf(t.RateLimit, 0) {
		v.fail("tiktok.rate_limit", "", "%v is not a rate: want requests per second above 0 (TikTok allows 1000)", t.RateLimit)
	}
	v.positive("tiktok.request_timeout", t.RequestTimeout)
}

func (v *validator) delivery() {
	d := v.c.Delivery
	if d.BatchSize < 1 || d.BatchSize > MaxBatchSize {
		v.fail("delivery.batch_size", "", "%d is out of range: want 1 to %d (TikTok refuses a request with more than %d events)", d.BatchSize, MaxBatchSize, MaxBatchSize)
	}
	v.positive("delivery.max_wait", d.MaxWait)
	if d.InFlight < 1 {
		v.fail("delivery.in_flight", "", "%d: want at least 1 request in flight per destination", d.InFlight)
	}
	v.positive("delivery.max_elapsed", d.MaxElapsed)
	if d.MaxDeliver < 1 {
		v.fail("delivery.max_deliver", "", "%d: want at least 1 delivery per message", d.MaxDeliver)
	}
	v.positive("delivery.ack_wait", d.AckWait)
	if d.MaxAckPending < 0 {
		v.fail("delivery.max_ack_pending", "", "%d: want 0 (derived from worker_replicas, in_flight and batch_size) or a positive number", d.MaxAckPending)
	}
	if d.Replicas < 1 {
		v.fail("delivery.worker_replicas", "", "%d: want the number of worker replicas you run, at least 1", d.Replicas)
	}
	v.positive("delivery.drain_timeout", d.DrainTimeout)
}

func (v *validator) rest() {
	c := v.c
	if c.Dedup.Retention < 0 {
		v.fail("dedup.retention", "", "%s: want 0 (the largest destination window + 24h) or how long to remember an accepted event, like 696h", short(c.Dedup.Retention.D()))
	}
	v.positive("dlq.retention", c.DLQ.Retention)
	if l := c.HTTP.Listen; l != "" {
		_, port, err := net.SplitHostPort(l)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
			v.fail("http.listen", "", "%q is not a listen address: want host:port like 127.0.0.1:8080 or :8080, or \"\" to serve no HTTP", clip(l))
		}
	}
	switch c.Log.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		v.fail("log.level", "", "%q is not a level: want trace, debug, info, warn or error", clip(c.Log.Level))
	}
	switch c.Log.Format {
	case "auto", "json", "console":
	default:
		v.fail("log.format", "", "%q is not a format: want auto (console on a terminal, JSON otherwise), json or console", clip(c.Log.Format))
	}
}

func (v *validator) destination(i int, seen map[string]int) {
	d := v.c.Destinations[i]
	key := func(k string) string { return fmt.Sprintf("destinations[%d].%s", i, k) }
	name := clip(d.Name)
	switch {
	case d.Name == "":
		v.fail(key("name"), "", "required: a name for the destination, used in its subject (<prefix>.rows.<name>)")
	case len(d.Name) > maxNameLen || !nameRE.MatchString(d.Name):
		v.fail(key("name"), name, "must be 1 to %d letters, digits, _ or - (it is a NATS subject token and part of a consumer name)", maxNameLen)
	default:
		if j, dup := seen[d.Name]; dup {
			v.fail(key("name"), name, "destinations[%d] has the same name: each destination needs its own", j)
		} else {
			seen[d.Name] = i
		}
	}
	switch {
	case d.AdvertiserID == "":
		v.fail(key("advertiser_id"), name, "required: the TikTok advertiser id (digits, quoted, like \"7654321098765432109\")")
	case !digitsRE.MatchString(d.AdvertiserID):
		v.fail(key("advertiser_id"), name, "must be the numeric TikTok advertiser id (digits only)")
	}
	switch d.EventSource {
	case "":
		v.fail(key("event_source"), name, "required: offline, web or crm")
	case events.SourceOffline, events.SourceWeb, events.SourceCRM:
	default:
		v.fail(key("event_source"), name, "%q is not an event source: want offline, web or crm", clip(d.EventSource))
	}
	switch {
	case d.EventSourceID == "":
		v.fail(key("event_source_id"), name, "required: the offline event set id (offline), the Pixel code (web) or the CRM event set id (crm)")
	case d.EventSource == events.SourceOffline && !digitsRE.MatchString(d.EventSourceID):
		v.fail(key("event_source_id"), name, "must be the offline event set id (digits only) for an offline destination")
	case d.EventSource == events.SourceCRM && !digitsRE.MatchString(d.EventSourceID):
		v.fail(key("event_source_id"), name, "must be the CRM event set id (digits only) for a crm destination")
	case d.EventSource == "web" && !pixelCodeRE.MatchString(d.EventSourceID):
		v.fail(key("event_source_id"), name, "must be the Pixel code (letters and digits, like C4ABCDEFGH1234567890) for a web destination")
	}
	if msg := checkEventName(d.EventSource, d.FixedEventName); msg != "" {
		v.fail(key("fixed_event_name"), name, "%s", msg)
	}
	switch w := d.Window.D(); {
	case w < 0:
		v.fail(key("window"), name, "%s is negative: want a duration from 1s to 672h (0 or absent means 672h)", short(w))
	case w > 0 && w < time.Second:
		v.fail(key("window"), name, "%s is shorter than 1s: want a duration from 1s to 672h (0 or absent means 672h)", short(w))
	case w > DefaultWindow:
		v.fail(key("window"), name, "%s is longer than TikTok's 28-day attribution window (672h)", short(w))
	}
	if r := strings.ToUpper(d.PhoneRegion); r != "" && !phonenumbers.GetSupportedRegions()[r] {
		v.fail(key("phone_region"), name, "%q is not a region: want a two-letter ISO 3166 code such as US, GB or DE", clip(d.PhoneRegion))
	}
}

// checkEventName returns what is wrong with a fixed_event_name, or "". pkg/events
// owns the list of TikTok's standard and legacy names, so its constructor judges the
// name: an offline destination needs a standard or legacy name, a web destination may
// use a custom one but not a standard name in the wrong case (the message gives the
// right spelling).
func checkEventName(source, name string) string {
	if name == "" {
		return ""
	}
	if strings.TrimSpace(name) != name {
		return "has spaces around it: event names are case-sensitive and sent as written"
	}
	if source != events.SourceWeb && source != events.SourceOffline && source != events.SourceCRM {
		return "" // event_source is reported on its own
	}
	_, err := events.NewTransformer(events.Config{EventSource: source, FixedEventName: name})
	if err != nil {
		return strings.TrimPrefix(err.Error(), "fixed_event_name: ")
	}
	return ""
}

// short formats 700h as "700h" rather than "700h0m0s".
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
