// Package config reads the worker's YAML configuration (SPEC §6): defaults for every
// key, environment overrides for the connection settings, secrets only from the
// environment or files, and errors that name the key (and the destination) at fault.
package config

import "time"

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
	APIBase         string `yaml:"api_base"`         // env TIKTOK_API_BASE
	AccessTokenEnv  string `yaml:"access_token_env"` // default TIKTOK_ACCESS_TOKEN
	AccessToken     string `yaml:"-"`                // resolved from AccessTokenEnv or AccessTokenFile, never from YAML
	AccessTokenFile string `yaml:"access_token_file"`
	// OAuth refresh flow (optional): app id in the file, secret and refresh token from env/files.
	AppID           string   `yaml:"app_id"`
	AppSecretEnv    string   `yaml:"app_secret_env"` // default TIKTOK_APP_SECRET
	AppSecret       string   `yaml:"-"`
	RefreshTokenEnv string   `yaml:"refresh_token_env"` // default TIKTOK_REFRESH_TOKEN
	RefreshToken    string   `yaml:"-"`
	TokenURL        string   `yaml:"token_url"`
	RateLimit       float64  `yaml:"rate_limit"`      // requests/s for the whole process, default 1000
	RequestTimeout  Duration `yaml:"request_timeout"` // default 30s
}

type Delivery struct {
	BatchSize     int      `yaml:"batch_size"`      // default 1000, at most 1000
	MaxWait       Duration `yaml:"max_wait"`        // default 1s
	InFlight      int      `yaml:"in_flight"`       // default 4
	MaxElapsed    Duration `yaml:"max_elapsed"`     // default 15m
	MaxDeliver    int      `yaml:"max_deliver"`     // default 50
	AckWait       Duration `yaml:"ack_wait"`        // default 60s
	MaxAckPending int      `yaml:"max_ack_pending"` // 0 → derived: replicas_hint × (batch_size + pull buffer)
	Replicas      int      `yaml:"worker_replicas"` // expected worker replicas, sizes MaxAckPending; default 2
	DrainTimeout  Duration `yaml:"drain_timeout"`   // default 30s
}

type Dedup struct {
	TTL    Duration `yaml:"ttl"`    // default 168h
	Bucket string   `yaml:"bucket"` // default TIKTOK_DEDUP
}

type DLQ struct {
	Retention Duration `yaml:"retention"` // default 720h
}

type HTTP struct {
	Listen string `yaml:"listen"` // default 127.0.0.1:8080; "" disables
}

type Log struct {
	Level  string `yaml:"level"`  // default info
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

// Duration is a time.Duration that reads "15m", "168h" or "1s" from YAML.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Load reads the YAML file at path ("" means defaults only), applies the environment
// overrides through getenv (os.Getenv in main), resolves secrets, and validates.
func Load(path string, getenv func(string) string) (*Config, error) {
	panic("TODO(config)")
}
