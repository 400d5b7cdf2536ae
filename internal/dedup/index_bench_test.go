package dedup

import "testing"

// BenchmarkTableSweep10M is one sweep (in the SentLog's chunks) of a table of 10M
// entries of which none is dead: the steady cost of the minute's sweep.
func BenchmarkTableSweep10M(b *testing.B) {
	t := newTable(0)
	for i := range 10_000_000 {
		t.put(uint64(i)*0x9E3779B97F4A7C15|1, uint32(i))
	}
	for b.Loop() {
		for from := 0; from < len(t.keys); from += sweepChunk {
			t.sweep(from, from+sweepChunk, func(v uint32) bool { return v > 1<<31 })
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10_000_000, "ns/entry")
}
