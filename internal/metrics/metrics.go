// Package metrics holds the worker's Prometheus collectors (SPEC §6, issue 5). Each
// Metrics value has its own registry, so tests and several workers in one process never
// share state. Every series carries the destination label; dead letters add reason and
// TikTok answers add code, both bounded sets.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric name.
const Namespace = "tiktok_worker"

// Metrics is the worker's set of collectors and the registry that serves them.
type Metrics struct {
	reg *prometheus.Registry

	rowsReceived    *prometheus.CounterVec
	eventsSent      *prometheus.CounterVec
	rowsSent        *prometheus.CounterVec
	rowsDuplicate   *prometheus.CounterVec
	rowsDeadLetter  *prometheus.CounterVec
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	batchSize       *prometheus.HistogramVec
	retries         *prometheus.CounterVec
	responses       *prometheus.CounterVec
	pending         *prometheus.GaugeVec
	ackPending      *prometheus.GaugeVec
	paused          *prometheus.GaugeVec
	state           *prometheus.GaugeVec
	oldestPending   *prometheus.GaugeVec
	publishToAccept *prometheus.HistogramVec
	matchKeys       *prometheus.CounterVec
	handedBack      *prometheus.CounterVec
}

// New returns a Metrics with a fresh registry that also carries the Go runtime and
// process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	dest := []string{"destination"}
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	gauge := func(name, help string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, dest)
		m.reg.MustRegister(g)
		return g
	}
	m.rowsReceived = counter("rows_received_total",
		"Rows settled (sent, duplicate or dead-lettered), counted when their message is acked.", dest)
	m.eventsSent = counter("events_sent_total", "Events TikTok accepted.", dest)
	m.rowsSent = counter("rows_sent_total", "Rows whose event TikTok accepted, counted when their message is acked.", dest)
	m.rowsDuplicate = counter("rows_duplicate_total",
		"Rows not sent because their event was already sent or merged.", dest)
	m.rowsDeadLetter = counter("rows_dead_lettered_total",
		"Rows published to the dead-letter stream, by reason.", []string{"destination", "reason"})
	m.requests = counter("requests_total", "HTTP requests to the TikTok Events API, retries and bisection included.", dest)
	m.retries = counter("retries_total",
		"Answers of the TikTok Events API that are retried (HTTP 5xx and 429, network errors, TikTok's transient codes), counted as they happen.", dest)
	m.matchKeys = counter("match_key_events_total",
		"Events TikTok accepted that carry a match key, by key: divided by events_sent_total, the key's coverage.",
		[]string{"destination", "key"})
	m.responses = counter("tiktok_responses_total",
		"HTTP answers of the TikTok Events API, retries and bisection included, by code: TikTok's code of an HTTP 200 answer, "+
			"else the HTTP status, 'network' when none came (bounded set; 'other' for the rest).",
		[]string{"destination", "code"})
	m.handedBack = counter("messages_handed_back_total",
		"Messages handed back to the stream (NAK) for a pause, an outage or a shutdown.", dest)
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "request_duration_seconds",
		Help:    "Time to deliver one batch to TikTok, retries included.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900},
	}, dest)
	m.batchSize = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "batch_size_events",
		Help:    "Events per request sent to TikTok.",
		Buckets: []float64{1, 10, 50, 100, 250, 500, 750, 999, 1000},
	}, dest)
	m.publishToAccept = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "publish_to_accept_seconds",
		Help:    "Time from a row's JetStream publish to TikTok's acceptance of its event.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 86400},
	}, dest)
	m.reg.MustRegister(m.requestDuration, m.batchSize, m.publishToAccept)
	m.pending = gauge("consumer_pending", "Messages in the stream not yet delivered to the destination's consumer.")
	m.ackPending = gauge("consumer_ack_pending", "Messages delivered to the destination's consumer and not yet acked.")
	m.paused = gauge("destination_paused", "1 while the destination is paused (credentials or outage), else 0.")
	m.oldestPending = gauge("oldest_pending_seconds",
		"Age of the oldest row this replica holds unacked, from its JetStream publish time (0 when it holds none).")
	m.state = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "destination_state",
		Help: "1 for the destination's current state (starting, running, retrying, paused, draining, stopped), 0 for the others."},
		[]string{"destination", "state"})
	m.reg.MustRegister(m.state)
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry, for callers that add their own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format (for /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Destination returns the collectors of one destination, resolved once so the hot path
// does no label lookups. A nil Metrics returns a nil *Destination, whose methods do
// nothing.
func (m *Metrics) Destination(name string) *Destination {
	if m == nil {
		return nil
	}
	d := &Destination{
		m:               m,
		name:            name,
		rowsReceived:    m.rowsReceived.WithLabelValues(name),
		eventsSent:      m.eventsSent.WithLabelValues(name),
		rowsSent:        m.rowsSent.WithLabelValues(name),
		rowsDuplicate:   m.rowsDuplicate.WithLabelValues(name),
		requests:        m.requests.WithLabelValues(name),
		retries:         m.retries.WithLabelValues(name),
		handedBack:      m.handedBack.WithLabelValues(name),
		requestDuration: m.requestDuration.WithLabelValues(name),
		batchSize:       m.batchSize.WithLabelValues(name),
		pending:         m.pending.WithLabelValues(name),
		ackPending:      m.ackPending.WithLabelValues(name),
		paused:          m.paused.WithLabelValues(name),
		oldestPending:   m.oldestPending.WithLabelValues(name),
		publishToAccept: m.publishToAccept.WithLabelValues(name),
	}
	d.paused.Set(0)
	return d
}

// Destination is one destination's collectors. All methods are safe on a nil receiver.
type Destination struct {
	m    *Metrics
	name string

	rowsReceived, eventsSent, rowsSent, rowsDuplicate prometheus.Counter
	requests, retries, handedBack                     prometheus.Counter
	requestDuration, batchSize, publishToAccept       prometheus.Observer
	pending, ackPending, paused, oldestPending        prometheus.Gauge
}

// Settled records the rows of one acked message.
func (d *Destination) Settled(rows, sent, duplicate int) {
	if d == nil {
		return
	}
	d.rowsReceived.Add(float64(rows))
	if sent > 0 {
		d.rowsSent.Add(float64(sent))
	}
	if duplicate > 0 {
		d.rowsDuplicate.Add(float64(duplicate))
	}
}

// DeadLettered records n rows dead-lettered with reason (one of the six Dlq-Reason
// values, a bounded set).
func (d *Destination) DeadLettered(reason string, n int) {
	if d == nil || n == 0 {
		return
	}
	d.m.rowsDeadLetter.WithLabelValues(d.name, reason).Add(float64(n))
}

// EventsSent records events TikTok accepted.
func (d *Destination) EventsSent(n int) {
	if d == nil || n == 0 {
		return
	}
	d.eventsSent.Add(float64(n))
}

// Request records one delivered batch: its size, how long it took, and the HTTP
// requests it cost. Retries are counted as they happen (Retry).
func (d *Destination) Request(events int, took time.Duration, requests int) {
	if d == nil {
		return
	}
	d.batchSize.Observe(float64(events))
	d.requestDuration.Observe(took.Seconds())
	d.requests.Add(float64(requests))
}

// Retry counts one answer that the client retries, when it comes.
func (d *Destination) Retry() {
	if d == nil {
		return
	}
	d.retries.Inc()
}

// MatchKeysKnown makes the match-key counters of keys exist at 0, so a coverage
// division has both sides from the start.
func (d *Destination) MatchKeysKnown(keys []string) {
	if d == nil {
		return
	}
	for _, k := range keys {
		d.m.matchKeys.WithLabelValues(d.name, k)
	}
}

// MatchKey counts n accepted events carrying match key key.
func (d *Destination) MatchKey(key string, n int64) {
	if d == nil || n == 0 {
		return
	}
	d.m.matchKeys.WithLabelValues(d.name, key).Add(float64(n))
}

// PublishToAccept observes the time from a row's publish to TikTok's acceptance.
func (d *Destination) PublishToAccept(took time.Duration) {
	if d == nil {
		return
	}
	d.publishToAccept.Observe(max(took, 0).Seconds())
}

// OldestPending sets the age of the oldest row this replica holds unacked.
func (d *Destination) OldestPending(age time.Duration) {
	if d == nil {
		return
	}
	d.oldestPending.Set(max(age, 0).Seconds())
}

// State sets destination_state: 1 for current, 0 for the other names in all.
func (d *Destination) State(current string, all []string) {
	if d == nil {
		return
	}
	for _, s := range all {
		v := 0.0
		if s == current {
			v = 1
		}
		d.m.state.WithLabelValues(d.name, s).Set(v)
	}
}

// TikTokAnswer counts one HTTP answer TikTok gave (every attempt: retries and
// bisection included) under AnswerLabel(httpStatus, code, failed).
func (d *Destination) TikTokAnswer(httpStatus, code int, failed bool) {
	if d == nil {
		return
	}
	d.m.responses.WithLabelValues(d.name, AnswerLabel(httpStatus, code, failed)).Inc()
}

// HandedBack counts messages NAKed back to the stream.
func (d *Destination) HandedBack(n int) {
	if d == nil || n == 0 {
		return
	}
	d.handedBack.Add(float64(n))
}

// Pending sets the consumer's undelivered and unacknowledged message counts.
func (d *Destination) Pending(pending, ackPending uint64) {
	if d == nil {
		return
	}
	d.pending.Set(float64(pending))
	d.ackPending.Set(float64(ackPending))
}

// Paused sets the destination_paused gauge.
func (d *Destination) Paused(paused bool) {
	if d == nil {
		return
	}
	if paused {
		d.paused.Set(1)
	} else {
		d.paused.Set(0)
	}
}

// knownCodes are the codes SPEC §4 names; 51xxx and 52xxx are folded into families.
var knownCodes = map[int]bool{
	0: true, 20001: true, 40000: true, 40001: true, 40002: true, 40006: true, 40016: true,
	40061: true, 40062: true, 40063: true, 40100: true, 40101: true, 40102: true,
	40104: true, 40105: true, 40106: true, 40107: true, 40113: true, 40118: true,
	40119: true, 40125: true, 40130: true, 40132: true, 40133: true, 40202: true,
	40300: true, 40301: true, 50000: true, 50002: true, 60001: true, 61000: true,
}

// AnswerLabel is the code label of one HTTP exchange with TikTok: "network" when no
// answer came (httpStatus 0), the HTTP status when it is not 200 or its body was not
// TikTok's envelope (failed), else CodeLabel of TikTok's code. HTTP statuses (three
// digits) never collide with TikTok's five-digit codes.
func AnswerLabel(httpStatus, code int, failed bool) string {
	switch {
	case httpStatus == 0:
		return "network"
	case httpStatus != http.StatusOK || failed:
		if httpStatus >= 100 && httpStatus < 600 {
			return strconv.Itoa(httpStatus)
		}
		return "other"
	}
	return CodeLabel(code)
}

// CodeLabel maps a TikTok code to its label value: the code itself when SPEC §4 names
// it, "51xxx"/"52xxx" for those families, "gave_up" for -1 (retried for max elapsed
// without an answer), "other" otherwise.
func CodeLabel(code int) string {
	switch {
	case code == -1:
		return "gave_up"
	case knownCodes[code]:
		return strconv.Itoa(code)
	case code >= 51000 && code < 52000:
		return "51xxx"
	case code >= 52000 && code < 53000:
		return "52xxx"
	}
	return "other"
}
