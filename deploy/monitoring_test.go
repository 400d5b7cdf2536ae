package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/tiktok-events-worker/tiktok-events-worker/deploy/dashboard"
	"github.com/tiktok-events-worker/tiktok-events-worker/internal/metrics"
)

const (
	alertsFile    = "monitoring/alerts.yaml"
	dashboardFile = "monitoring/dashboard.json"
	operationsDoc = "../docs/operations.md"
)

var promql = parser.NewParser(parser.Options{})

// loadRules loads the alert rules with Prometheus's own rule-file loader, which also
// parses every expression and annotation template.
func loadRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.ParseFile(alertsFile, false, model.UTF8Validation, promql, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(errs) > 0 {
		t.Fatalf("Prometheus refuses %s: %v", alertsFile, errors.Join(errs...))
	}
	return groups
}

// metricNames parses expr with Prometheus's parser and returns the metric names its
// selectors read.
func metricNames(t *testing.T, expr string) []string {
	t.Helper()
	e, err := promql.ParseExpr(expr)
	if err != nil {
		t.Errorf("PromQL %q: %v", expr, err)
		return nil
	}
	var names []string
	for _, sel := range parser.ExtractSelectors(e) {
		for _, m := range sel {
			if m.Name == model.MetricNameLabel {
				names = append(names, m.Value)
			}
		}
	}
	if len(names) == 0 {
		t.Errorf("PromQL %q reads no metric", expr)
	}
	return names
}

// exported reports whether the worker's registry (metrics.New, what /metrics serves)
// has a metric family called name, or, for name_bucket/_sum/_count, a histogram called
// name. A collector is known by its descriptors even before it has a series, so the
// registry is asked directly: registering a probe under a name it already holds
// fails. Histograms carry only the destination label, so one destination's series
// show their type.
func exported(m *metrics.Metrics, name string) bool {
	reg := m.Registry()
	probe := func(n string) bool {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: n, Help: "probe", ConstLabels: prometheus.Labels{"probe": "deploy-test"}})
		if err := reg.Register(g); err != nil {
			return true
		}
		reg.Unregister(g)
		return false
	}
	if probe(name) {
		return true
	}
	m.Destination("probe")
	families, err := reg.Gather()
	if err != nil {
		return false
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		for _, f := range families {
			if f.GetName() == base && f.GetType() == dto.MetricType_HISTOGRAM {
				return true
			}
		}
	}
	return false
}

func TestExportedProbe(t *testing.T) {
	reg := metrics.New()
	for name, want := range map[string]bool{
		"tiktok_worker_rows_received_total":             true,
		"tiktok_worker_request_duration_seconds_bucket": true,
		"tiktok_worker_rows_recieved_total":             false,
		"tiktok_worker_consumer_pending_bucket":         false,
	} {
		if got := exported(reg, name); got != want {
			t.Errorf("exported(%s) = %v, want %v", name, got, want)
		}
	}
}

func TestAlertRules(t *testing.T) {
	groups := loadRules(t)
	reg := metrics.New()
	doc, err := os.ReadFile(operationsDoc)
	if err != nil {
		t.Fatalf("the runbook: %v", err)
	}
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			for _, n := range metricNames(t, r.Expr) {
				if !exported(reg, n) {
					t.Errorf("alert %s reads %s, which the worker does not export", r.Alert, n)
				}
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %s needs a severity label and a summary", r.Alert)
			}
			anchor := strings.ToLower(r.Alert)
			if !strings.HasSuffix(r.Annotations["runbook_url"], "docs/operations.md#"+anchor) {
				t.Errorf("alert %s: runbook_url %q, want docs/operations.md#%s", r.Alert, r.Annotations["runbook_url"], anchor)
			}
			// The runbook paragraph: a heading named after the alert, then text.
			m := regexp.MustCompile(`(?m)^### ` + regexp.QuoteMeta(r.Alert) + `\n\n(\S[^\n]{40,})`).FindSubmatch(doc)
			if m == nil {
				t.Errorf("docs/operations.md has no runbook paragraph for %s (a \"### %s\" heading followed by what to do)", r.Alert, r.Alert)
			}
		}
	}
	want := []string{"TiktokWorkerConsumerLagRising", "TiktokWorkerDeadLettersGrowing", "TiktokWorkerDestinationPaused", "TiktokWorkerErrorCodesSpike", "TiktokWorkerNoEventsAccepted"}
	for _, w := range want {
		if !strings.Contains(strings.Join(alerts, ","), w) {
			t.Errorf("no alert %s (issue 11 asks for it)", w)
		}
	}
}

// TestAlertRulesRejectTypos: the loader and the metric check catch what they must.
func TestAlertRulesRejectTypos(t *testing.T) {
	reg := metrics.New()
	tests := []struct{ name, rules, errHas string }{
		{"bad PromQL", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: sum by (destination (x)\n", "parse error"},
		{"unknown field", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    fro: 5m\n", "fro"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := rulefmt.Parse([]byte(tt.rules), false, model.UTF8Validation, promql, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err := errors.Join(errs...); err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("loader error %v, want one mentioning %q", err, tt.errHas)
			}
		})
	}
	if exported(reg, "tiktok_worker_events_send_total") {
		t.Error("a misspelt metric passes the export check")
	}
}

// TestDashboard: the committed JSON is what the generator writes, and every query in
// it parses and reads metrics the worker exports.
func TestDashboard(t *testing.T) {
	got, err := dashboard.Build()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what deploy/dashboard builds: run `go run ./cmd/dashboard > %s` in deploy/", dashboardFile, dashboardFile)
	}

	var model any
	if err := json.Unmarshal(want, &model); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var exprs, titles []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if e, ok := v["expr"].(string); ok {
				exprs = append(exprs, e)
			}
			if title, ok := v["title"].(string); ok && v["type"] != nil {
				titles = append(titles, title)
			}
			for _, sub := range v {
				walk(sub)
			}
		case []any:
			for _, sub := range v {
				walk(sub)
			}
		}
	}
	walk(model)
	reg := metrics.New()
	for _, e := range exprs {
		// Grafana's $__rate_interval and $destination are not PromQL: put in what
		// Grafana would before it sends the query.
		q := strings.NewReplacer("$__rate_interval", "5m", "$destination", ".*").Replace(e)
		for _, n := range metricNames(t, q) {
			if !exported(reg, n) {
				t.Errorf("dashboard query reads %s, which the worker does not export: %s", n, e)
			}
		}
	}
	sort.Strings(titles)
	for _, w := range []string{"Rows received", "Rows sent and events accepted", "Duplicate rows", "Dead-lettered by reason",
		"Request latency", "Batch fill", "Requests and retries", "TikTok codes", "Consumer pending", "Oldest pending age",
		"Destination state", "Match-key coverage"} {
		if i := sort.SearchStrings(titles, w); i == len(titles) || titles[i] != w {
			t.Errorf("the dashboard has no %q panel (issue 11 asks for it); panels: %v", w, titles)
		}
	}
	if len(exprs) < 15 {
		t.Errorf("only %d queries found in %s", len(exprs), filepath.Base(dashboardFile))
	}
}
