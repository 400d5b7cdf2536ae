// Package config reads the worker's YAML configuration (SPEC §6): defaults for every
// key, environment overrides for the connection settings, secrets only from the
// environment or files, and errors that name the key (and the destination) at fault.
//
// Load (or Parse) checks everything a config can get wrong on its own and reports every
// problem at once (errors.Join of *FieldError). It does not require a destination or an
// access token, because dlq and publish need neither; run and validate call
// (*Config).CheckRun on top of it.
package config

import (
	"fmt"
	"os"
	"time"
)

// Config is the whole file. Field names follow the YAML keys of SPEC §6.
type Config struct {
	NATS         NATS          `yaml:"nats"`
	TikTok       TikTok        `yaml:"tiktok"`
	Delivery     Delivery      `yaml:"delivery"`
	Dedup        Dedup         `yaml:"dedup"`
	DLQ          DLQ           `yaml:"dlq"`
	HTTP         HTTP          `yaml:"http"`
	Log          Log           `yaml:"log"`
	Destinations []Destination `yaml:"destinations"`

	// warnings are what Load noticed but accepted (a secret file others can read);
	// Warnings returns them with the rest.
	warnings []string

	// origin maps a key path ("delivery.batch_size", "destinations[0].window") to where
	// its value came from ("config.yaml:12", "NATS_URL"), so that Validate can say so.
	origin map[string]string
}

type NATS struct {
	URL           string `yaml:"url"`        // env NATS_URL; "" → embedded server under DataDir
	CredsFile     string `yaml:"creds_file"` // env NATS_CREDS
	NKeyFile      string `yaml:"nkey_file"`  // env NATS_NKEY
	TLSCA         string `yaml:"tls_ca"`
	TLSCert       string `yaml:"tls_cert"`
	TLSKey        string `yaml:"tls_key"`
	DataDir       string `yaml:"data_dir"` // default ./data
	Replicas      int    `yaml:"replicas"` // default 1
	SubjectPrefix string `yaml:"subject_prefix"`
}

type TikTok struct {
	APIBase string `yaml:"api_base"` // env TIKTOK_API_BASE
	// AllowInsecureHTTP lets api_base and token_url use plain http:// to a host that is
	// not loopback (a sandbox in another container). The token travels in a header.
	AllowInsecureHTTP bool   `yaml:"allow_insecure_http"`
	AccessTokenEnv    string `yaml:"access_token_env"`  // default TIKTOK_ACCESS_TOKEN
	AccessToken       string `yaml:"-" json:"-"`        // resolved from AccessTokenFile or AccessTokenEnv, never from YAML
	AccessTokenFile   string `yaml:"access_token_file"` // when set, wins over the variable
	// OAuth refresh flow (optional): app id in the file, secret and refresh token from env/files.
	AppID            string   `yaml:"app_id"`
	AppSecretEnv     string   `yaml:"app_secret_env"` // default TIKTOK_APP_SECRET
	AppSecret        string   `yaml:"-" json:"-"`
	AppSecretFile    string   `yaml:"app_secret_file"`
	RefreshTokenEnv  string   `yaml:"refresh_token_env"` // default TIKTOK_REFRESH_TOKEN
	RefreshToken     string   `yaml:"-" json:"-"`
	RefreshTokenFile string   `yaml:"refresh_token_file"`
	TokenURL         string   `yaml:"token_url"`       // "" → the client's default endpoint
	RateLimit        float64  `yaml:"rate_limit"`      // requests/s for the whole process, default 1000
	RequestTimeout   Duration `yaml:"request_timeout"` // default 30s
}

type Delivery struct {
	BatchSize     int      `yaml:"batch_size"`      // default 1000, at most 1000
	MaxWait       Duration `yaml:"max_wait"`        // default 1s
	InFlight      int      `yaml:"in_flight"`       // default 4
	MaxElapsed    Duration `yaml:"max_elapsed"`     // default 15m
	MaxDeliver    int      `yaml:"max_deliver"`     // default 50
	AckWait       Duration `yaml:"ack_wait"`        // default 60s
	MaxAckPending int      `yaml:"max_ack_pending"` // 0 → derived, see EffectiveMaxAckPending; Load fills it in
	Replicas      int      `yaml:"worker_replicas"` // expected worker replicas, sizes MaxAckPending; default 2
	DrainTimeout  Duration `yaml:"drain_timeout"`   // default 30s
}

type Dedup struct {
	// Retention is how long the sent log remembers an accepted event: 0 → the largest
	// destination window + 24h (see EffectiveRetention); Load fills it in.
	Retention Duration `yaml:"retention"`
	// Bucket is the first version's dedup bucket (dedup.bucket is no longer a key): its
	// receipts are copied into the sent log once at the upgrade. Default TIKTOK_DEDUP.
	Bucket string `yaml:"-"`
}

type DLQ struct {
	Retention Duration `yaml:"retention"` // default 720h
}

type HTTP struct {
	Listen string `yaml:"listen"` // default 127.0.0.1:8080; "" disables
}

type Log struct {
	Level  string `yaml:"level"`  // default info: trace, debug, info, warn, error
	Format string `yaml:"format"` // auto (console on a terminal), json, console
}

type Destination struct {
	Name           string   `yaml:"name"` // subject <prefix>.rows.<name>
	AdvertiserID   string   `yaml:"advertiser_id"`
	EventSource    string   `yaml:"event_source"` // offline | web
	EventSourceID  string   `yaml:"event_source_id"`
	FixedEventName string   `yaml:"fixed_event_name"`
	Window         Duration `yaml:"window"` // default 672h, at most 672h
	PhoneRegion    string   `yaml:"phone_region"`
	LimitedDataUse bool     `yaml:"limited_data_use"`
	AutoTracking   bool     `yaml:"auto_tracking"`
	TestEventCode  string   `yaml:"test_event_code"`
}

// Defaults of SPEC §6.
const (
	DefaultDataDir         = "./data"
	DefaultSubjectPrefix   = "tiktok"
	DefaultAPIBase         = "https://business-api.tiktok.com"
	DefaultAccessTokenEnv  = "TIKTOK_ACCESS_TOKEN"
	DefaultAppSecretEnv    = "TIKTOK_APP_SECRET"
	DefaultRefreshTokenEnv = "TIKTOK_REFRESH_TOKEN"
	DefaultRateLimit       = 1000
	DefaultRequestTimeout  = 30 * time.Second
	DefaultBatchSize       = 1000
	DefaultMaxWait         = time.Second
	DefaultInFlight        = 4
	DefaultMaxElapsed      = 15 * time.Minute
	DefaultMaxDeliver      = 50
	DefaultAckWait         = 60 * time.Second
	DefaultWorkerReplicas  = 2
	DefaultDrainTimeout    = 30 * time.Second
	DefaultDedupBucket     = "TIKTOK_DEDUP"
	// RetentionMargin is what dedup.retention 0 adds to the largest window: an event
	// accepted at T can be re-sent validly until T + window, so the log must remember
	// it that long, and a day more covers clocks and late re-publishes.
	RetentionMargin     = 24 * time.Hour
	DefaultDLQRetention = 720 * time.Hour
	DefaultListen       = "127.0.0.1:8080"
	DefaultLogLevel     = "info"
	DefaultLogFormat    = "auto"
	DefaultWindow       = 672 * time.Hour // TikTok's 28-day attribution window, also the maximum
	DefaultPhoneRegion  = "US"
	MaxBatchSize        = 1000 // TikTok refuses a request with more events whole

	// PullBuffer is the number of messages a replica's puller keeps fetched ahead of
	// the batcher (nats.go's default for Consume). It is part of the derived
	// max_ack_pending.
	PullBuffer = 500
)

// Default returns a Config holding the default of every key and no destination.
func Default() *Config {
	return &Config{
		NATS: NATS{DataDir: DefaultDataDir, Replicas: 1, SubjectPrefix: DefaultSubjectPrefix},
		TikTok: TikTok{
			APIBase:         DefaultAPIBase,
			AccessTokenEnv:  DefaultAccessTokenEnv,
			AppSecretEnv:    DefaultAppSecretEnv,
			RefreshTokenEnv: DefaultRefreshTokenEnv,
			RateLimit:       DefaultRateLimit,
			RequestTimeout:  Duration(DefaultRequestTimeout),
		},
		Delivery: Delivery{
			BatchSize:    DefaultBatchSize,
			MaxWait:      Duration(DefaultMaxWait),
			InFlight:     DefaultInFlight,
			MaxElapsed:   Duration(DefaultMaxElapsed),
			MaxDeliver:   DefaultMaxDeliver,
			AckWait:      Duration(DefaultAckWait),
			Replicas:     DefaultWorkerReplicas,
			DrainTimeout: Duration(DefaultDrainTimeout),
		},
		Dedup: Dedup{Bucket: DefaultDedupBucket},
		DLQ:   DLQ{Retention: Duration(DefaultDLQRetention)},
		HTTP:  HTTP{Listen: DefaultListen},
		Log:   Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
	}
}

// applyDestinationDefaults fills the keys a destination left out (or set to zero).
func (d *Destination) applyDefaults() {
	if d.Window == 0 {
		d.Window = Duration(DefaultWindow)
	}
	if d.PhoneRegion == "" {
		d.PhoneRegion = DefaultPhoneRegion
	}
}

// EffectiveMaxAckPending is the consumer's MaxAckPending: the configured value, or when
// it is 0, worker_replicas × ((in_flight + 1) × batch_size + PullBuffer). That is what
// every replica can hold un-acked at once — in_flight requests being sent, one batch
// being filled and the pull buffer — so that no replica can take the whole allowance
// and starve the others (SPEC §5: MaxAckPending is per consumer, not per replica).
// With the defaults it is 2 × (5 × 1000 + 500) = 11,000.
func (d Delivery) EffectiveMaxAckPending() int {
	if d.MaxAckPending > 0 {
		return d.MaxAckPending
	}
	replicas := max(d.Replicas, 1)
	inFlight := max(d.InFlight, 1)
	batch := d.BatchSize
	if batch <= 0 || batch > MaxBatchSize {
		batch = DefaultBatchSize
	}
	return replicas * ((inFlight+1)*batch + PullBuffer)
}

// EffectiveRetention is the sent log's retention: dedup.retention, or when it is 0,
// the largest destination window (the default window when there is none) +
// RetentionMargin: 29 days with the default 28-day window.
func (c *Config) EffectiveRetention() time.Duration {
	if c.Dedup.Retention > 0 {
		return c.Dedup.Retention.D()
	}
	largest := time.Duration(0)
	for _, d := range c.Destinations {
		largest = max(largest, d.Window.D())
	}
	if largest <= 0 {
		largest = DefaultWindow
	}
	return largest + RetentionMargin
}

// Destination returns the destination called name, or nil.
func (c *Config) Destination(name string) *Destination {
	for i := range c.Destinations {
		if c.Destinations[i].Name == name {
			return &c.Destinations[i]
		}
	}
	return nil
}

// Load reads the YAML file at path ("" means defaults only), applies the environment
// overrides through getenv (os.Getenv in main), resolves secrets, and validates.
//
// Every problem is reported at once: the error is an errors.Join of *FieldError, each
// naming the file and line, the key and (inside destinations) the destination.
// A nil getenv means an empty environment.
func Load(path string, getenv func(string) string) (*Config, error) {
	if path == "" {
		return parse("", nil, getenv)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w (pass --config with the path of a YAML file, see examples/config.yaml)", err)
	}
	return parse(path, data, getenv)
}

// Parse is Load for a config held in memory (an embedded or generated file).
func Parse(data []byte, getenv func(string) string) (*Config, error) {
	return parse("", data, getenv)
}
