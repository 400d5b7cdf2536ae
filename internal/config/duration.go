package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration that reads "15m", "168h" or "1s" from YAML (Go's
// time.ParseDuration syntax). A bare number other than 0 is refused: "30" could mean
// seconds or nanoseconds, so the file must say which.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d as time.Duration does ("1m0s").
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d in the form UnmarshalYAML reads.
func (d Duration) MarshalYAML() (any, error) { return short(d.D()), nil }

func parseDuration(n *yaml.Node) (time.Duration, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("want a duration such as 30s, 15m or 168h, not a %s", kindName(n))
	}
	s := strings.TrimSpace(n.Value)
	switch n.ShortTag() {
	case "!!int", "!!float":
		if s == "0" {
			return 0, nil
		}
		return 0, fmt.Errorf("%s has no unit: write it as %ss, %sm or %sh", s, s, s, s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: write it like 30s, 15m or 168h (units ns, us, ms, s, m, h; no days)", clip(s))
	}
	return v, nil
}
