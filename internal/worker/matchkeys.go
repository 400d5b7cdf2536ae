package worker

import (
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
)

// matchKey is one identity key counted per accepted event (issue 10: match quality
// in production), by its metric label.
type matchKey struct {
	bit  events.MatchKeys
	name string
}

// matchKeys are the keys counted, in the order pkg/events defines them.
//
// pkg/events does not export its key names yet; when it does (the advanced keys
// first_name … zip_code are being added there), this list is to be derived from it.
var matchKeys = []matchKey{
	{events.KeyEmail, "email"},
	{events.KeyPhone, "phone"},
	{events.KeyExternalID, "external_id"},
	{events.KeyIP, "ip"},
	{events.KeyUserAgent, "user_agent"},
	{events.KeyTTP, "ttp"},
	{events.KeyTTCLID, "ttclid"},
}

// MatchKeyNames are the labels of the match-key counters, in order.
func MatchKeyNames() []string {
	out := make([]string, len(matchKeys))
	for i, k := range matchKeys {
		out[i] = k.name
	}
	return out
}

// keyTally counts accepted events per match key over one batch, so the shared
// counters are touched once per batch, not once per event.
type keyTally []int64

func newKeyTally() keyTally { return make(keyTally, len(matchKeys)) }

func (t keyTally) add(keys events.MatchKeys) {
	if keys == 0 {
		return
	}
	for i, k := range matchKeys {
		if keys&k.bit != 0 {
			t[i]++
		}
	}
}

// flush adds the tally to the destination's counters and clears it.
func (p *pipeline) flushKeys() {
	t := p.keys
	for i, n := range t {
		if n > 0 {
			p.stats.keys[i].Add(n)
			p.met.MatchKey(matchKeys[i].name, n)
			t[i] = 0
		}
	}
}
