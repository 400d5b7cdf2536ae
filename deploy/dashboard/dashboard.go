// Package dashboard builds the worker's Grafana dashboard with Grafana's foundation
// SDK. cmd/dashboard writes it to monitoring/dashboard.json; a test checks that the
// committed file is what Build produces, that every query parses as PromQL, and that
// every metric it reads is one the worker exports.
package dashboard

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// UID is the dashboard's stable id, so a re-import replaces it.
const UID = "tiktok-events-worker"

// sel is the label selector every query carries: the chosen destinations.
const sel = `{destination=~"$destination"}`

// Query is one PromQL expression of a panel, with its legend.
type Query struct {
	Expr, Legend string
}

// Panel is one panel: its title, what it shows, its unit and queries.
type Panel struct {
	Title, Description, Unit string
	Queries                  []Query
	Stat                     bool // a stat panel (current values) instead of a time series
}

// Row is a titled group of panels.
type Row struct {
	Title  string
	Panels []Panel
}

// rate is the per-second rate of a counter of the worker, summed by labels.
func rate(metric, by string) string {
	return fmt.Sprintf("sum by (%s) (rate(tiktok_worker_%s%s[$__rate_interval]))", by, metric, sel)
}

func quantile(q float64, metric string) Query {
	return Query{
		Expr:   fmt.Sprintf("histogram_quantile(%g, sum by (le, destination) (rate(tiktok_worker_%s_bucket%s[$__rate_interval])))", q, metric, sel),
		Legend: fmt.Sprintf("{{destination}} p%g", q*100),
	}
}

// Rows are the dashboard's content, as data: the test walks every query.
func Rows() []Row {
	return []Row{
		{Title: "Throughput", Panels: []Panel{
			{Title: "Rows received", Unit: "rowsps", Description: "Rows settled (sent, duplicate or dead-lettered) per second.",
				Queries: []Query{{rate("rows_received_total", "destination"), "{{destination}}"}}},
			{Title: "Rows sent and events accepted", Unit: "rowsps", Description: "Rows whose event TikTok accepted, and the events themselves.",
				Queries: []Query{
					{rate("rows_sent_total", "destination"), "{{destination}} rows"},
					{rate("events_sent_total", "destination"), "{{destination}} events"},
				}},
			{Title: "Duplicate rows", Unit: "rowsps", Description: "Rows not sent because their event was already sent (the sent log) or merged.",
				Queries: []Query{{rate("rows_duplicate_total", "destination"), "{{destination}}"}}},
			{Title: "Dead-lettered by reason", Unit: "rowsps", Description: "Rows published to the DLQ. invalid_row and outside_window are data problems; rejected and retries_exhausted need a look (docs/operations.md).",
				Queries: []Query{{rate("rows_dead_lettered_total", "destination, reason"), "{{destination}} {{reason}}"}}},
		}},
		{Title: "TikTok", Panels: []Panel{
			{Title: "Request latency", Unit: "s", Description: "Time to deliver one batch, retries included.",
				Queries: []Query{quantile(0.5, "request_duration_seconds"), quantile(0.95, "request_duration_seconds"), quantile(0.99, "request_duration_seconds")}},
			{Title: "Publish to accept", Unit: "s", Description: "From a row's JetStream publish to TikTok's acceptance of its event: the end-to-end delay.",
				Queries: []Query{quantile(0.5, "publish_to_accept_seconds"), quantile(0.95, "publish_to_accept_seconds")}},
			{Title: "Batch fill", Unit: "percentunit", Description: "Average events per request, as a share of TikTok's 1,000: low fill under load means max_wait cuts batches.",
				Queries: []Query{{
					Expr:   fmt.Sprintf("sum by (destination) (rate(tiktok_worker_batch_size_events_sum%s[$__rate_interval])) / sum by (destination) (rate(tiktok_worker_batch_size_events_count%s[$__rate_interval])) / 1000", sel, sel),
					Legend: "{{destination}}",
				}}},
			{Title: "Requests and retries", Unit: "reqps", Description: "HTTP requests to the Events API (bisection included) and the answers that were retried.",
				Queries: []Query{
					{rate("requests_total", "destination"), "{{destination}} requests"},
					{rate("retries_total", "destination"), "{{destination}} retries"},
				}},
			{Title: "TikTok codes", Unit: "reqps", Description: "Answers by TikTok's code (HTTP status when not 200, network when none came).",
				Queries: []Query{{rate("tiktok_responses_total", "destination, code"), "{{destination}} {{code}}"}}},
		}},
		{Title: "Backlog and state", Panels: []Panel{
			{Title: "Consumer pending", Unit: "short", Description: "Messages not yet delivered to the destination's consumer (what KEDA scales on), and delivered but not acked.",
				Queries: []Query{
					{fmt.Sprintf("max by (destination) (tiktok_worker_consumer_pending%s)", sel), "{{destination}} pending"},
					{fmt.Sprintf("max by (destination) (tiktok_worker_consumer_ack_pending%s)", sel), "{{destination}} ack pending"},
				}},
			{Title: "Oldest pending age", Unit: "s", Description: "Age of the oldest row a replica holds unacked, from its publish time.",
				Queries: []Query{{fmt.Sprintf("max by (destination) (tiktok_worker_oldest_pending_seconds%s)", sel), "{{destination}}"}}},
			{Title: "Destination state", Unit: "short", Stat: true, Description: "Replicas in each state: running, retrying, paused, draining, starting.",
				Queries: []Query{{fmt.Sprintf("sum by (destination, state) (tiktok_worker_destination_state%s)", sel), "{{destination}} {{state}}"}}},
			{Title: "Handed back", Unit: "short", Description: "Messages NAKed back to the stream for a pause, an outage or a shutdown.",
				Queries: []Query{{rate("messages_handed_back_total", "destination"), "{{destination}}"}}},
		}},
		{Title: "Match quality", Panels: []Panel{
			{Title: "Match-key coverage", Unit: "percentunit", Description: "Share of accepted events carrying each match key (email, phone, external_id, ip, user_agent, ttp, ttclid).",
				Queries: []Query{{
					Expr:   fmt.Sprintf("sum by (destination, key) (rate(tiktok_worker_match_key_events_total%s[$__rate_interval])) / ignoring (key) group_left sum by (destination) (rate(tiktok_worker_events_sent_total%s[$__rate_interval]))", sel, sel),
					Legend: "{{destination}} {{key}}",
				}}},
		}},
	}
}

// Build returns the dashboard as Grafana's JSON model, indented, ending in a newline.
func Build() ([]byte, error) {
	ds := common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
	destQuery := "label_values(tiktok_worker_rows_received_total, destination)"
	// The classic dashboard model, which every Grafana imports; the SDK prefers its
	// v2 schema, which only Grafana 12 with the v2 API reads.
	//lint:ignore SA1019 see above
	b := dashboard.NewDashboardBuilder("TikTok events worker").
		Uid(UID).
		Description("Rows in, events out, dead letters, TikTok's answers and the backlog of tiktok-events-worker. Generated by deploy/cmd/dashboard; edit deploy/dashboard/dashboard.go, not this JSON.").
		Tags([]string{"tiktok-events-worker", "nats"}).
		Refresh("30s").
		Time("now-6h", "now").
		Timezone(common.TimeZoneBrowser).
		Link(dashboard.NewDashboardLinkBuilder("Runbook").Type(dashboard.DashboardLinkTypeLink).
			Url("https://github.com/tiktok-events-worker/tiktok-events-worker/blob/main/docs/operations.md").TargetBlank(true)).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus")).
		WithVariable(dashboard.NewQueryVariableBuilder("destination").Label("Destination").
			Datasource(ds).
			Query(dashboard.StringOrMap{String: &destQuery}).
			Definition(destQuery).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Multi(true).IncludeAll(true).AllValue(".*"))
	// Panel ids are unique and stable: rows and panels are numbered in order.
	id := uint32(0)
	for _, row := range Rows() {
		id++
		b = b.WithRow(dashboard.NewRowBuilder(row.Title).Id(id))
		for _, p := range row.Panels {
			id++
			b = b.WithPanel(panel(p, ds, id))
		}
	}
	d, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("build the dashboard: %w", err)
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode the dashboard: %w", err)
	}
	return append(out, '\n'), nil
}

func panel(p Panel, ds common.DataSourceRef, id uint32) cog.Builder[dashboard.Panel] {
	targets := func(add func(cog.Builder[variants.Dataquery])) {
		for _, q := range p.Queries {
			add(prometheus.NewDataqueryBuilder().Expr(q.Expr).LegendFormat(q.Legend))
		}
	}
	if p.Stat {
		s := stat.NewPanelBuilder().Id(id).Title(p.Title).Description(p.Description).Unit(p.Unit).Datasource(ds).Height(6).Span(8)
		targets(func(q cog.Builder[variants.Dataquery]) { s = s.WithTarget(q) })
		return s
	}
	ts := timeseries.NewPanelBuilder().Id(id).Title(p.Title).Description(p.Description).Unit(p.Unit).Datasource(ds).Min(0).Height(8).Span(12)
	targets(func(q cog.Builder[variants.Dataquery]) { ts = ts.WithTarget(q) })
	return ts
}
