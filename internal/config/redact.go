package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Redacted returns the effective configuration as YAML, safe to log or print: secrets
// are not included (only whether each one is set), and a user or password in
// nats.url is replaced by "redacted".
func (c *Config) Redacted() string {
	cp := *c
	cp.NATS.URL = redactURLs(c.NATS.URL)
	b, err := yaml.Marshal(&cp)
	if err != nil {
		return fmt.Sprintf("config: cannot print: %v", err)
	}
	var s strings.Builder
	s.Write(b)
	fmt.Fprintf(&s, "# secrets: access token %s, app secret %s, refresh token %s\n",
		setOrNot(c.TikTok.AccessToken), setOrNot(c.TikTok.AppSecret), setOrNot(c.TikTok.RefreshToken))
	return s.String()
}

// String is Redacted, so that printing a Config with %v never shows a secret.
func (c Config) String() string { return c.Redacted() }

// String hides the secrets of t; %v and %+v of a TikTok print this.
func (t TikTok) String() string {
	t.AccessToken = redactedIfSet(t.AccessToken)
	t.AppSecret = redactedIfSet(t.AppSecret)
	t.RefreshToken = redactedIfSet(t.RefreshToken)
	type plain TikTok // no String method: no recursion
	return fmt.Sprintf("%+v", plain(t))
}

// MarshalJSON writes n with any user or password in URL replaced by "redacted", so
// that a logger that encodes the config as JSON does not leak them.
func (n NATS) MarshalJSON() ([]byte, error) {
	type plain NATS // no MarshalJSON method: no recursion
	n.URL = redactURLs(n.URL)
	return json.Marshal(plain(n))
}

// GoString keeps %#v from printing the secrets too.
func (t TikTok) GoString() string { return "config.TikTok" + t.String() }

func setOrNot(s string) string {
	if s == "" {
		return "not set"
	}
	return "set"
}

func redactedIfSet(s string) string {
	if s == "" {
		return ""
	}
	return "redacted"
}

func redactURLs(list string) string {
	if list == "" {
		return ""
	}
	parts := strings.Split(list, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		switch {
		case err != nil:
			parts[i] = "(unparsable URL)"
		case u.User != nil:
			u.User = url.User("redacted")
			parts[i] = u.String()
		default:
			parts[i] = p
		}
	}
	return strings.Join(parts, ",")
}
