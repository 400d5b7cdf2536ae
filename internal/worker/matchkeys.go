package worker

import (
	"slices"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
)

// matchKeyNames are the labels of the match-key counters (tiktok_worker_match_key_
// events_total{key}) and the keys of DestinationStats.MatchKeys: pkg/events's names,
// in bit order (element i names events.MatchKeys(1<<i)).
var matchKeyNames = events.MatchKeyNames()

// MatchKeyNames are the labels of the match-key counters, in order.
func MatchKeyNames() []string { return slices.Clone(matchKeyNames) }

// keyTally counts accepted events per match key over one batch, so the shared
// counters are touched once per batch, not once per event.
type keyTally []int64

func newKeyTally() keyTally { return make(keyTally, len(matchKeyNames)) }

func (t keyTally) add(keys events.MatchKeys) {
	for i := range t {
		if keys == 0 {
			return
		}
		if keys&1 != 0 {
			t[i]++
		}
		keys >>= 1
	}
}

// flush adds the tally to the destination's counters and clears it.
func (p *pipeline) flushKeys() {
	t := p.keys
	for i, n := range t {
		if n > 0 {
			p.stats.keys[i].Add(n)
			p.met.MatchKey(matchKeyNames[i], n)
			t[i] = 0
		}
	}
}
