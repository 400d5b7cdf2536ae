package dedup

import (
	"math/rand/v2"
	"testing"
	"time"
)

// The table agrees with a Go map through growth, overwrites, sweeps and shrinking,
// whatever the fingerprints.
func TestTableAgreesWithAMap(t *testing.T) {
	for _, c := range []struct {
		name string
		fp   func(r *rand.Rand) uint64
	}{
		{"random fingerprints", func(r *rand.Rand) uint64 { return r.Uint64() | 1<<63 | 1 }},
		// Few distinct high bits: every key lands in a handful of home slots, so
		// probe runs are long, wrap around the end, and deletions shift far.
		{"colliding homes", func(r *rand.Rand) uint64 { return uint64(r.IntN(64))<<58 | uint64(r.IntN(1<<20)) + 1 }},
		// One key in eight homes in the table's last slots: runs wrap around the end.
		{"homes at the end", func(r *rand.Rand) uint64 {
			if r.IntN(8) == 0 {
				return ^uint64(0) - r.Uint64()>>44
			}
			return r.Uint64() | 1
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			tb := newTable(0)
			model := map[uint64]uint32{}
			check := func(when string) {
				t.Helper()
				if tb.len() != len(model) {
					t.Fatalf("%s: len %d, want %d", when, tb.len(), len(model))
				}
				for fp, v := range model {
					if got, ok := tb.get(fp); !ok || got != v {
						t.Fatalf("%s: get(%x) = %d, %v; want %d", when, fp, got, ok, v)
					}
				}
			}
			for round := range 6 {
				for range 3000 {
					fp, v := c.fp(r), r.Uint32()
					old, had := tb.put(fp, v)
					if mv, ok := model[fp]; ok != had || ok && mv != old {
						t.Fatalf("put(%x): replaced %d, %v; model %d, %v", fp, old, had, mv, ok)
					}
					model[fp] = v
				}
				check("after puts")
				// Forget the entries whose value is below a threshold, in ranges.
				limit := uint32(1) << 30 * uint32(round%4)
				dead := func(v uint32) bool { return v < limit }
				removed := 0
				for from := 0; from < len(tb.keys); from += 777 {
					removed += tb.sweep(from, from+777, dead)
				}
				want := 0
				for fp, v := range model {
					if dead(v) {
						delete(model, fp)
						want++
					}
				}
				// Entries shifted across a range boundary may wait for the next sweep.
				removed += tb.sweep(0, len(tb.keys), dead)
				if removed != want {
					t.Fatalf("round %d: sweeps removed %d, want %d", round, removed, want)
				}
				tb.shrink()
				check("after a sweep")
				for range 1000 {
					fp := c.fp(r)
					if _, ok := tb.get(fp); ok != has(model, fp) {
						t.Fatalf("get(%x) found %v, the model %v", fp, ok, has(model, fp))
					}
				}
			}
		})
	}
}

func has(m map[uint64]uint32, k uint64) bool { _, ok := m[k]; return ok }

func TestTableGrowsAndShrinks(t *testing.T) {
	tb := newTable(0)
	const n = 100_000
	for i := range n {
		tb.put(uint64(i)*0x9E3779B97F4A7C15|1, uint32(i))
	}
	if load := float64(tb.len()) / float64(len(tb.keys)); load > tableMaxLoad || load < tableMaxLoad/tableGrowth {
		t.Errorf("load %.2f after growing, want between %.2f and %.2f", load, tableMaxLoad/tableGrowth, tableMaxLoad)
	}
	if per := float64(tb.bytes()) / n; per > 24 {
		t.Errorf("%.1f bytes per entry, want at most 24", per)
	}
	if removed := tb.sweep(0, len(tb.keys), func(v uint32) bool { return v >= 1000 }); removed != n-1000 {
		t.Errorf("sweep removed %d, want %d", removed, n-1000)
	}
	tb.shrink()
	if len(tb.keys) > 2000 {
		t.Errorf("%d slots for 1,000 entries after shrinking", len(tb.keys))
	}
	for i := range 1000 {
		if v, ok := tb.get(uint64(i)*0x9E3779B97F4A7C15 | 1); !ok || v != uint32(i) {
			t.Fatalf("entry %d lost in shrinking", i)
		}
	}
}

func TestFingerprints(t *testing.T) {
	f := newFingerprints()
	seen := map[uint64]string{}
	for _, k := range [][3]string{
		{"stores", "Purchase", "o-1"}, {"stores", "InitiateCheckout", "o-1"}, {"stores", "", "o-1"},
		{"web", "Purchase", "o-1"}, {"stores", "Purchase", "o-2"},
		{"ab", "c", "d"}, {"a", "bc", "d"}, {"a", "b", "cd"}, // boundaries matter
		{"", "", ""},
	} {
		fp := f.of(k[0], k[1], k[2])
		if fp == 0 {
			t.Errorf("%q: fingerprint 0 marks an empty slot", k)
		}
		if prev, dup := seen[fp]; dup {
			t.Errorf("%q and %s share a fingerprint", k, prev)
		}
		seen[fp] = k[0] + "/" + k[1] + "/" + k[2]
		if f.of(k[0], k[1], k[2]) != fp {
			t.Errorf("%q: fingerprint not stable", k)
		}
	}
}

func TestAges(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := ages{granule: time.Minute}
	// A record every 10 s for an hour: seq i at base + 10i s.
	for i := 1; i <= 360; i++ {
		a.observe(uint64(i), base.Add(time.Duration(i)*10*time.Second))
	}
	if len(a.marks) > 61 {
		t.Errorf("%d marks for an hour at a minute's granule", len(a.marks))
	}
	const retention = 24 * time.Hour
	for _, c := range []struct {
		now  time.Time
		want uint64 // the cutoff: records before it are forgotten
	}{
		{base.Add(retention), 0},
		{base.Add(retention + 3*time.Minute), 13}, // records 1…18 are older; up to a granule later
		{base.Add(retention + time.Hour), 361},    // all of them
	} {
		got := a.cutoff(c.now, retention)
		exact := uint64(c.now.Add(-retention).Sub(base)/(10*time.Second)) + 1
		if got > exact || (c.want != 0 && got < c.want) {
			t.Errorf("cutoff at %s: %d, want between %d and %d (never later than exact)", c.now.Sub(base), got, c.want, exact)
		}
	}
	a.forget(100)
	if got := a.cutoff(base.Add(retention+3*time.Minute), retention); got > 19 {
		t.Errorf("forgetting old marks changed a cutoff to %d", got)
	}
}
