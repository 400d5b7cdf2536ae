package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/publish"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
)

// previewOptions are the flags of `worker preview`.
type previewOptions struct {
	eventSource    string
	eventSourceID  string
	fixedEventName string
	limitedDataUse bool
	testEventCode  string
	window         string
	phoneRegion    string
	now            string
	format         string
}

func (a *app) previewCmd() *cobra.Command {
	var o previewOptions
	cmd := &cobra.Command{
		Use:   "preview",
		Short: "Show the TikTok request bodies that rows on stdin would produce",
		Long: `preview reads rows (JSON Lines, a JSON array, or CSV with a header) on stdin and
writes the exact Events API request bodies they become on stdout, one JSON object per
line (at most 1,000 events each). Every rejected row is one JSON line on stderr,
{"line":N,"reason":…,"field":…,"error":…}, followed by one summary line.

The input is read as ` + "`worker publish`" + ` reads it, and each message it would publish is
transformed as the worker transforms it: consecutive rows that share an event_id (the
line items of one order) are one event, sent whole or not at all; a later row with an
event name and event_id already output is a duplicate. preview streams: a request is
written as soon as it holds 1,000 events, and memory stays flat however long the input.

The format is detected from the first character ('[' a JSON array, '{' JSON Lines,
anything else CSV) unless --format says. Give --now to judge the timestamps against a
fixed clock (the examples' rows are from 2025-11-24).

Exit status: 0 when the input was read (whatever the rows held), 2 for a bad flag,
1 for an I/O error.`,
		Example: previewExamples,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.preview(o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.eventSource, "event-source", events.SourceOffline, strings.Join(events.Sources(), ", "))
	f.StringVar(&o.eventSourceID, "event-source-id", "", "Pixel code (web), offline or CRM event set id, as the request carries it")
	f.StringVar(&o.fixedEventName, "fixed-event-name", "", "event name for rows without an event column")
	f.BoolVar(&o.limitedDataUse, "limited-data-use", false, `web only: mark events "limited_data_use": true`)
	f.StringVar(&o.testEventCode, "test-event-code", "", "top-level test_event_code of the requests")
	f.StringVar(&o.window, "window", "672h", "attribution window (at most 672h = 28 days)")
	f.StringVar(&o.phoneRegion, "phone-region", "US", "region of phone numbers without a country code (ISO 3166-1, e.g. US, GB)")
	f.StringVar(&o.now, "now", "", "the clock for the window, RFC 3339 (default: the current time)")
	f.StringVar(&o.format, "format", "", "jsonl, json or csv (default: detected; the same as worker publish)")
	return cmd
}

// previewExamples each produce events when pasted into a shell at the top of the
// repository (TestPreviewHelpExamples runs them).
const previewExamples = `  printf '%s\n' '{"timestamp":"2025-11-24T10:00:00Z","event":"Purchase","event_id":"o-1","email":"ann@example.com","phone":"(415) 555-2671","content_id":"sku-1","price":"19.99","quantity":2}' | worker preview --event-source-id 7654321098765432109 --now 2025-11-24T12:00:00Z
  worker preview --fixed-event-name Purchase --event-source-id 7654321098765432109 --now 2025-11-24T12:00:00Z < examples/orders.csv
  printf '%s\n' '{"timestamp":"2025-11-24T11:58:00Z","event":"ViewContent","email":"ann@example.com","page_url":"https://shop.example/p/1"}' | worker preview --event-source web --event-source-id CPIXEL1 --now 2025-11-24T12:00:00Z`

func usageErr(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func ioErr(err error) error { return &exitError{code: 1, err: err} }

// transformerFor turns the flags into a Transformer; a bad value is a usage error
// that names the flag.
func (o *previewOptions) transformer() (*events.Transformer, error) {
	cfg := events.Config{
		EventSource:    o.eventSource,
		EventSourceID:  o.eventSourceID,
		FixedEventName: o.fixedEventName,
		PhoneRegion:    o.phoneRegion,
		LimitedDataUse: o.limitedDataUse,
		TestEventCode:  o.testEventCode,
		Now:            time.Now,
	}
	w, err := time.ParseDuration(o.window)
	if err != nil || w <= 0 || w > events.DefaultWindow {
		return nil, usageErr("--window %q: give a duration up to 672h (28 days), e.g. 168h", o.window)
	}
	cfg.Window = w
	if o.now != "" {
		t, err := time.Parse(time.RFC3339, o.now)
		if err != nil {
			return nil, usageErr("--now %q: give an RFC 3339 time such as 2025-11-24T12:00:00Z", o.now)
		}
		cfg.Now = func() time.Time { return t }
	}
	tr, err := events.NewTransformer(cfg)
	if err != nil {
		// NewTransformer names the setting as in the config file; name the flag.
		msg := err.Error()
		for key, flag := range map[string]string{"event_source": "--event-source", "phone_region": "--phone-region", "fixed_event_name": "--fixed-event-name"} {
			if strings.HasPrefix(msg, key) {
				msg = flag + msg[len(key):]
			}
		}
		return nil, usageErr("%s", msg)
	}
	return tr, nil
}

// previewHeapLimit is the soft limit preview sets on the Go heap (unless GOMEMLIMIT
// says otherwise): past it the collector runs sooner rather than letting the heap
// double. With the binary's own ~20 MB it keeps preview within SPEC §8's 64 MB RSS
// on 1,000,000 rows, whose event fingerprints take 16 MB. On larger inputs the limit
// rises to twice the fingerprints, so the collector never runs without end.
const previewHeapLimit = 32 << 20

func (a *app) preview(o previewOptions) error {
	tr, err := o.transformer()
	if err != nil {
		return err
	}
	var heapLimit func(int64)
	if os.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(previewHeapLimit))
		heapLimit = func(fingerprints int64) { debug.SetMemoryLimit(max(previewHeapLimit, 2*fingerprints)) }
	}
	format, err := publish.ParseFormat(o.format)
	if err != nil {
		return usageErr("--format %q: use jsonl, json or csv", o.format)
	}
	rd, err := publish.NewReader(a.stdin, format)
	if err != nil {
		return usageErr("--format: %w", err)
	}
	p := newPreviewer(tr, &o, a.stdout, a.stderr)
	p.heapLimit = heapLimit
	ahead := startPrefetch(rd, 1024)
	defer ahead.stop()
	var msgs []publish.Message
	for {
		msgs, err = ahead.take(msgs)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return ioErr(fmt.Errorf("reading stdin: %w", err))
		}
		for i := range msgs {
			if err := p.message(&msgs[i]); err != nil {
				return ioErr(err)
			}
		}
	}
	if err := p.finish(); err != nil {
		return ioErr(err)
	}
	return nil
}
