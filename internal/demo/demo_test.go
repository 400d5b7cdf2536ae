package demo_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/demo"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/sampledata"
)

func TestRunAddsUp(t *testing.T) {
	mix := sampledata.Mix{Good: 240, LineItems: 10, Duplicates: 30, Invalid: 15, Old: 10, Future: 5, Malformed: 3, Poison: true}
	for _, replicas := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d replicas", replicas), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			rep, err := demo.Run(ctx, demo.Options{Mix: mix, DataDir: t.TempDir(), Replicas: replicas, Timeout: 45 * time.Second})
			var out bytes.Buffer
			rep.Print(&out)
			if err != nil {
				t.Fatalf("Run: %v\n%s", err, out.String())
			}
			if !rep.Balanced() {
				t.Errorf("report does not balance:\n%s", out.String())
			}
			tot := rep.Total
			unique := mix.Good + mix.LineItems
			want := []struct {
				name      string
				got, want int64
			}{
				{"rows published", int64(rep.Published), int64(mix.Rows())},
				{"rows received", tot.Received, int64(mix.Rows())},
				{"sent rows", tot.Sent, int64(mix.Good + 3*mix.LineItems)},
				{"events accepted by the sandbox", int64(rep.SandboxAccepted), int64(unique)},
				{"events the workers sent", tot.SentEvents, int64(unique)},
				// The line items of an order are one event but three sent rows: only the
				// re-published rows are duplicates.
				{"duplicates", tot.Duplicates, int64(mix.Duplicates)},
				{"invalid_row", tot.DeadLettered["invalid_row"], int64(mix.Invalid)},
				{"outside_window", tot.DeadLettered["outside_window"], int64(mix.Old)},
				{"future_timestamp", tot.DeadLettered["future_timestamp"], int64(mix.Future)},
				{"malformed_message", tot.DeadLettered["malformed_message"], int64(mix.Malformed)},
				{"rejected (the poison event)", tot.DeadLettered["rejected"], 1},
				{"messages in the DLQ stream", int64(rep.DLQMessages), int64(mix.Invalid + mix.Old + mix.Future + mix.Malformed + 1)},
			}
			for _, w := range want {
				if w.got != w.want {
					t.Errorf("%s = %d, want %d", w.name, w.got, w.want)
				}
			}
			if tot.Retries == 0 {
				t.Error("no retries: the sandbox's burst of 503s was not retried")
			}
			// The summary shows those numbers, and says they add up.
			for _, line := range []struct {
				label string
				n     int64
			}{
				{"rows published", int64(mix.Rows())},
				{"sent", tot.Sent},
				{"duplicate", tot.Duplicates},
				{"invalid_row", int64(mix.Invalid)},
				{"outside_window", int64(mix.Old)},
				{"future_timestamp", int64(mix.Future)},
				{"malformed_message", int64(mix.Malformed)},
				{"rejected", 1},
				{"events accepted by the sandbox", int64(unique)},
			} {
				re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(line.label) + `\s+` + fmt.Sprint(line.n) + `\s*$`)
				if !re.MatchString(out.String()) {
					t.Errorf("summary has no line %q with %d:\n%s", line.label, line.n, out.String())
				}
			}
			// Every sample row carries an e-mail and a phone: the match-key lines say so,
			// and no key the offline rows lack is listed.
			for _, k := range []string{"email", "phone"} {
				if tot.MatchKeys[k] != tot.SentEvents {
					t.Errorf("events carrying %s = %d, want every accepted event (%d)", k, tot.MatchKeys[k], tot.SentEvents)
				}
				if !regexp.MustCompile(`(?m)^\s*` + k + `\s+100\.0%\s*$`).MatchString(out.String()) {
					t.Errorf("summary has no line %q with 100.0%%:\n%s", k, out.String())
				}
			}
			if regexp.MustCompile(`(?m)^\s*(ip|ttclid|first_name)\s`).MatchString(out.String()) {
				t.Errorf("summary lists a match key no accepted event carried:\n%s", out.String())
			}
			if !bytes.Contains(out.Bytes(), []byte("✓ received = sent + duplicate + dead-lettered")) {
				t.Errorf("summary lacks the ✓ check line:\n%s", out.String())
			}
		})
	}
}

func TestRunNeedsDataDir(t *testing.T) {
	if _, err := demo.Run(context.Background(), demo.Options{}); err == nil {
		t.Error("Run without a data directory: no error")
	}
}

func TestRunTimeout(t *testing.T) {
	// A timeout too short to settle anything must end in an error, not a hang or a
	// report that claims success.
	rep, err := demo.Run(context.Background(), demo.Options{
		Mix: sampledata.Mix{Good: 50}, DataDir: t.TempDir(), Timeout: time.Millisecond,
	})
	if err == nil {
		t.Errorf("Run with a 1ms timeout succeeded: %+v", rep)
	}
}
