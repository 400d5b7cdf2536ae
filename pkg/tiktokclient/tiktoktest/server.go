package tiktoktest

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The zero-config server accepts these: a default token, one advertiser with one
// Pixel and one offline event set, and one OAuth app with a refresh token.
const (
	DefaultToken         = "sandbox-token"
	DefaultAdvertiserID  = "7654321098765432109"
	DefaultPixelCode     = "CSANDBOXPIXEL0000001"
	DefaultEventSetID    = "7654321098765432109"
	DefaultCRMEventSetID = "7654321098765432110"
	DefaultAppID         = "sandbox-app"
	DefaultAppSecret     = "sandbox-app-secret"
	DefaultRefreshToken  = "sandbox-refresh-token"
)

// Limits the server enforces as TikTok does.
const (
	MaxEvents   = 1000           // events per request
	DedupWindow = 48 * time.Hour // same event_source_id + event + event_id is dropped
)

// API paths the server serves (TikTok requires the trailing slash).
const (
	TrackPath          = "/open_api/v1.3/event/track/"
	AdvertiserInfoPath = "/open_api/v1.3/advertiser/info/"
	PixelListPath      = "/open_api/v1.3/pixel/list/"
	OfflineGetPath     = "/open_api/v1.3/offline/get/"
	OfflineUpdatePath  = "/open_api/v1.3/offline/update/"
	CRMListPath        = "/open_api/v1.3/crm/list/"
	RefreshPath        = "/open_api/v1.3/oauth2/refresh_token/"
	// Read-only JSON views for demos and manual tests (no token needed).
	AcceptedPath = "/sandbox/accepted"
	StatsPath    = "/sandbox/stats"
)

// Messages are TikTok's wording for the codes the server answers.
var Messages = map[int]string{
	0:     "OK",
	20001: "Partial success.",
	40000: "Invalid request.",
	40001: "No permission to operate.",
	40002: "Invalid value.",
	40006: "Invalid request header.",
	40016: "Too many requests for this advertiser, please retry later.",
	40100: "Requests made too frequently. Please try again later.",
	40104: "Access token is null, please include it in the Access-Token header.",
	40105: "Access token is incorrect or has been revoked.",
	40107: "Refresh token is incorrect, expired or has been revoked.",
	40133: "Too many requests for this advertiser. Please retry later.",
	40202: "Write conflict, please retry.",
	50000: "System error, please retry later.",
	50002: "Service is temporarily unavailable, please retry later.",
	60001: "The system is under maintenance, please retry later.",
}

func message(code int) string {
	if m, ok := Messages[code]; ok {
		return m
	}
	return "Error."
}

// AcceptedEvent is one event the server accepted (and did not drop as a duplicate).
type AcceptedEvent struct {
	EventSource   string          `json:"event_source"`
	EventSourceID string          `json:"event_source_id"`
	TestEventCode string          `json:"test_event_code,omitempty"`
	Event         string          `json:"event"`
	EventID       string          `json:"event_id"`
	EventTime     int64           `json:"event_time"`
	RequestID     string          `json:"request_id"`
	ReceivedAt    time.Time       `json:"received_at"`
	Raw           json.RawMessage `json:"raw"` // the event object as sent
}

// Stats are the server's counters (the /sandbox/stats view).
type Stats struct {
	Requests     int         `json:"requests"`      // /event/track/ requests
	APIRequests  int         `json:"api_requests"`  // every API request
	Accepted     int         `json:"accepted"`      // events accepted
	Deduplicated int         `json:"deduplicated"`  // events dropped as repeats within 48 h
	Codes        map[int]int `json:"codes"`         // /event/track/ answers by code (HTTP status for HTTP faults)
	Refreshes    int         `json:"refreshes"`     // successful token refreshes
	AutoTracking []string    `json:"auto_tracking"` // offline event sets with auto_tracking on
}

type advertiser struct {
	pixels map[string]bool
	sets   map[string]bool // value: auto_tracking
	crm    map[string]bool // CRM event sets
}

type app struct {
	secret  string
	refresh map[string]bool
}

type fault struct {
	code       int // TikTok code, or HTTP status when < 600
	retryAfter time.Duration
	partial    bool   // PartialNext: validate and record, answer 20001 listing failed
	failed     []int  // the events (by index in data) not taken
	message    string // TikTok's message, when not the code's usual one
}

// Server is a stand-in for the TikTok Events API, safe for concurrent use.
type Server struct {
	// URL is the base URL (http://127.0.0.1:port), set by NewServer and Start.
	URL string

	hs        *httptest.Server
	closed    chan struct{}
	closeOnce sync.Once

	mu          sync.Mutex
	now         func() time.Time
	tokens      map[string]bool // true valid, false revoked
	advertisers map[string]*advertiser
	apps        map[string]*app
	poison      map[string]bool
	faults      []fault
	errorRate   float64
	rng         *rand.Rand
	latency     time.Duration
	hangs       int
	hung        int           // requests held by HangNext so far
	hungCh      chan struct{} // closed and replaced when hung grows
	rateLimit   int
	window      int64
	inWindow    int
	maxRecorded int

	dedup     map[string]time.Time // appendDedupKey → first seen
	accepted  []AcceptedEvent
	nAccepted int
	nDedup    int
	requests  int
	apiReqs   int
	codes     map[int]int
	refreshes int
	seq       uint64
}

// Option configures a Server.
type Option func(*Server)

// WithClock sets the clock of the 48-hour dedup and of the rate-limit windows.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithoutDefaults starts without the default token, advertiser, Pixel, event set and app.
func WithoutDefaults() Option {
	return func(s *Server) {
		s.tokens = map[string]bool{}
		s.advertisers = map[string]*advertiser{}
		s.apps = map[string]*app{}
	}
}

// WithLatency delays every API answer by d.
func WithLatency(d time.Duration) Option { return func(s *Server) { s.latency = d } }

// WithErrorRate answers a share of /event/track/ requests with HTTP 503, drawn
// from a generator seeded with seed (the same seed fails the same requests).
func WithErrorRate(rate float64, seed uint64) Option {
	return func(s *Server) { s.errorRate, s.rng = rate, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
}

// WithRateLimit answers 40100 to /event/track/ requests above n per second.
func WithRateLimit(n int) Option { return func(s *Server) { s.rateLimit = n } }

// WithMaxRecorded keeps only the newest n accepted events for Accepted (0: all).
// Counts stay exact; a long-running sandbox needs a bound.
func WithMaxRecorded(n int) Option { return func(s *Server) { s.maxRecorded = n } }

// New builds a server that is not listening yet: serve it as an http.Handler, or
// call Start.
func New(opts ...Option) *Server {
	s := &Server{
		closed: make(chan struct{}),
		now:    time.Now,
		tokens: map[string]bool{DefaultToken: true},
		advertisers: map[string]*advertiser{DefaultAdvertiserID: {pixels: map[string]bool{DefaultPixelCode: true},
			sets: map[string]bool{DefaultEventSetID: false}, crm: map[string]bool{DefaultCRMEventSetID: true}}},
		apps:   map[string]*app{DefaultAppID: {secret: DefaultAppSecret, refresh: map[string]bool{DefaultRefreshToken: true}}},
		poison: map[string]bool{},
		rng:    rand.New(rand.NewPCG(1, 2)),
		dedup:  map[string]time.Time{},
		codes:  map[int]int{},
		hungCh: make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// NewServer starts a server on 127.0.0.1 (like httptest.NewServer). Close it.
func NewServer(opts ...Option) *Server {
	s := New(opts...)
	s.Start()
	return s
}

// Start listens on a free 127.0.0.1 port and sets URL.
func (s *Server) Start() {
	s.hs = httptest.NewServer(s)
	s.URL = s.hs.URL
}

// Close releases hanging requests and stops the listener.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	if s.hs != nil {
		s.hs.Close()
	}
}

// AddToken makes the server accept token.
func (s *Server) AddToken(token string) { s.mu.Lock(); s.tokens[token] = true; s.mu.Unlock() }

// RevokeToken makes the server answer 40105 to token (as a revoked token).
func (s *Server) RevokeToken(token string) { s.mu.Lock(); s.tokens[token] = false; s.mu.Unlock() }

// RestoreToken accepts a revoked token again.
func (s *Server) RestoreToken(token string) { s.AddToken(token) }

// AddAdvertiser adds an advertiser (every accepted token may use every advertiser).
func (s *Server) AddAdvertiser(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advertiserLocked(id)
}

func (s *Server) advertiserLocked(id string) *advertiser {
	a := s.advertisers[id]
	if a == nil {
		a = &advertiser{pixels: map[string]bool{}, sets: map[string]bool{}, crm: map[string]bool{}}
		s.advertisers[id] = a
	}
	return a
}

// AddPixel adds a Pixel (web event source) to an advertiser, adding the advertiser.
func (s *Server) AddPixel(advertiserID, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advertiserLocked(advertiserID).pixels[code] = true
}

// AddOfflineEventSet adds an offline event set to an advertiser, adding the advertiser.
func (s *Server) AddOfflineEventSet(advertiserID, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.advertiserLocked(advertiserID)
	if _, ok := a.sets[id]; !ok {
		a.sets[id] = false
	}
}

// AddCRMEventSet adds a CRM event set (event_source crm) to an advertiser, adding
// the advertiser.
func (s *Server) AddCRMEventSet(advertiserID, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advertiserLocked(advertiserID).crm[id] = true
}

// AutoTracking reports whether offline/update turned auto_tracking on for a set.
func (s *Server) AutoTracking(eventSetID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.advertisers {
		if a.sets[eventSetID] {
			return true
		}
	}
	return false
}

// AddApp adds an OAuth app with one valid refresh token.
func (s *Server) AddApp(appID, secret, refreshToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appID]
	if a == nil {
		a = &app{refresh: map[string]bool{}}
		s.apps[appID] = a
	}
	a.secret = secret
	a.refresh[refreshToken] = true
}

// FailNext answers the next n /event/track/ requests with code: a TikTok code
// (40100, 50002, 40105, …) in the usual HTTP 200 envelope, or, below 600, that
// HTTP status (500, 503, 429).
func (s *Server) FailNext(n, code int) { s.FailNextRetryAfter(n, code, 0) }

// FailNextWith answers the next n /event/track/ requests with a TikTok code and
// message, such as 40002 with "Invalid value for test_event_code." (an envelope
// field TikTok refused).
func (s *Server) FailNextWith(n, code int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{code: code, message: message})
	}
}

// FailNextRetryAfter is FailNext with a Retry-After header on each answer.
func (s *Server) FailNextRetryAfter(n, code int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{code: code, retryAfter: retryAfter})
	}
}

// PartialNext answers the next n valid /event/track/ requests with code 20001
// (partial success): the events at the failed indexes of data are not taken, and
// data lists them as {"failed_events": [{"index", "code": 40002, "message"}]}; the
// others are accepted. Indexes beyond a request's events are ignored. (TikTok does
// not document the shape of data on 20001; the client reads it tolerantly.)
func (s *Server) PartialNext(n int, failed ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{code: 20001, partial: true, failed: append([]int(nil), failed...)})
	}
}

// SetErrorRate changes the HTTP 503 share (see WithErrorRate).
func (s *Server) SetErrorRate(rate float64, seed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	WithErrorRate(rate, seed)(s)
}

// SetLatency changes the delay of every API answer.
func (s *Server) SetLatency(d time.Duration) { s.mu.Lock(); s.latency = d; s.mu.Unlock() }

// SetRateLimit changes the per-second limit of /event/track/ (0: none).
func (s *Server) SetRateLimit(n int) { s.mu.Lock(); s.rateLimit = n; s.mu.Unlock() }

// HangNext makes the next n /event/track/ requests never answer: they wait until the
// client gives up (its timeout or context) or the server closes.
func (s *Server) HangNext(n int) { s.mu.Lock(); s.hangs += n; s.mu.Unlock() }

// WaitHanging waits until n /event/track/ requests in all have been held by
// HangNext (each then waits for its client to give up), or ctx is done. A test
// that times its client's attempts on a fake clock advances it after this.
func (s *Server) WaitHanging(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		hung, ch := s.hung, s.hungCh
		s.mu.Unlock()
		if hung >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// PoisonEvent makes any request that contains eventID fail with 40002, as TikTok
// refuses a whole request for one bad event; a client must bisect to isolate it.
func (s *Server) PoisonEvent(eventID string) { s.mu.Lock(); s.poison[eventID] = true; s.mu.Unlock() }

// Accepted returns a copy of the accepted events, oldest first.
func (s *Server) Accepted() []AcceptedEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AcceptedEvent(nil), s.accepted...)
}

// AcceptedCount is the number of events accepted (duplicates dropped not counted).
func (s *Server) AcceptedCount() int { s.mu.Lock(); defer s.mu.Unlock(); return s.nAccepted }

// Requests is the number of /event/track/ requests received.
func (s *Server) Requests() int { s.mu.Lock(); defer s.mu.Unlock(); return s.requests }

// CodeCounts counts /event/track/ answers by code (HTTP status for HTTP faults).
func (s *Server) CodeCounts() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[int]int, len(s.codes))
	for k, v := range s.codes {
		m[k] = v
	}
	return m
}

// Stats returns every counter at once.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Requests: s.requests, APIRequests: s.apiReqs, Accepted: s.nAccepted,
		Deduplicated: s.nDedup, Codes: map[int]int{}, Refreshes: s.refreshes, AutoTracking: []string{}}
	for k, v := range s.codes {
		st.Codes[k] = v
	}
	for _, a := range s.advertisers {
		for id, on := range a.sets {
			if on {
				st.AutoTracking = append(st.AutoTracking, id)
			}
		}
	}
	sort.Strings(st.AutoTracking)
	return st
}

// Reset forgets accepted events, the dedup memory, counters and pending faults;
// tokens, advertisers, event sources and apps stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accepted, s.nAccepted, s.nDedup = nil, 0, 0
	s.requests, s.apiReqs, s.refreshes = 0, 0, 0
	s.codes = map[int]int{}
	s.dedup = map[string]time.Time{}
	s.faults, s.hangs, s.poison = nil, 0, map[string]bool{}
}

// ServeHTTP serves the API and the /sandbox/ views.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case StatsPath:
		writeJSON(w, http.StatusOK, s.Stats())
		return
	case AcceptedPath:
		s.serveAccepted(w, r)
		return
	}
	s.mu.Lock()
	s.apiReqs++
	latency := s.latency
	s.mu.Unlock()
	if latency > 0 && !s.wait(r.Context(), latency) {
		return
	}
	switch r.URL.Path {
	case TrackPath:
		s.serveTrack(w, r)
	case AdvertiserInfoPath:
		s.serveAdvertiserInfo(w, r)
	case PixelListPath:
		s.servePixelList(w, r)
	case OfflineGetPath:
		s.serveOfflineGet(w, r)
	case OfflineUpdatePath:
		s.serveOfflineUpdate(w, r)
	case CRMListPath:
		s.serveCRMList(w, r)
	case RefreshPath:
		s.serveRefresh(w, r)
	default:
		msg := "Not found."
		if strings.HasPrefix(r.URL.Path, "/open_api/") && !strings.HasSuffix(r.URL.Path, "/") {
			msg = "Not found: TikTok API paths end with a slash."
		}
		writeJSON(w, http.StatusNotFound, envelope{Code: 40400, Message: msg, RequestID: s.requestID(), Data: struct{}{}})
	}
}

// wait sleeps d unless the client goes away or the server closes first.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.closed:
	}
	return false
}

type envelope struct {
	Code      int    `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
	Data      any    `json:"data"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// requestID looks like TikTok's: a timestamp and a sequence number.
func (s *Server) requestID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requestIDLocked()
}

func (s *Server) requestIDLocked() string {
	s.seq++
	return s.now().UTC().Format("20060102150405") + fmt.Sprintf("%012d", s.seq)
}

func (s *Server) answer(w http.ResponseWriter, code int, msg string, data any) {
	if msg == "" {
		msg = message(code)
	}
	if data == nil {
		data = struct{}{}
	}
	writeJSON(w, http.StatusOK, envelope{Code: code, Message: msg, RequestID: s.requestID(), Data: data})
}

// authorize checks the method and the Access-Token header; false means it answered.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method != method {
		writeJSON(w, http.StatusMethodNotAllowed, envelope{Code: 40400, Message: "Method not allowed: use " + method + ".", RequestID: s.requestID(), Data: struct{}{}})
		return false
	}
	tok := r.Header.Get("Access-Token")
	if tok == "" {
		s.answer(w, 40104, "", nil)
		return false
	}
	s.mu.Lock()
	ok := s.tokens[tok]
	s.mu.Unlock()
	if !ok {
		s.answer(w, 40105, "", nil)
		return false
	}
	if method == http.MethodPost && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		s.answer(w, 40006, "Invalid request header: Content-Type must be application/json.", nil)
		return false
	}
	return true
}

func (s *Server) count(code int) {
	s.mu.Lock()
	s.codes[code]++
	s.mu.Unlock()
}

func (s *Server) serveTrack(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	hang := s.hangs > 0
	if hang {
		s.hangs--
		s.hung++
		close(s.hungCh) // wakes WaitHanging
		s.hungCh = make(chan struct{})
	}
	var f *fault
	if !hang && len(s.faults) > 0 {
		f = &s.faults[0]
		s.faults = s.faults[1:]
	}
	httpFail := !hang && f == nil && s.errorRate > 0 && s.rng.Float64() < s.errorRate
	limited := false
	if !hang && f == nil && !httpFail && s.rateLimit > 0 {
		sec := s.now().Unix()
		if sec != s.window {
			s.window, s.inWindow = sec, 0
		}
		s.inWindow++
		limited = s.inWindow > s.rateLimit
	}
	s.mu.Unlock()
	switch {
	case hang:
		s.wait(r.Context(), 24*time.Hour)
		return
	case f != nil && f.partial:
		s.serveTracked(w, r, f.failed)
		return
	case f != nil && f.code < 600:
		s.count(f.code)
		if f.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((f.retryAfter+time.Second-1)/time.Second)))
		}
		writeJSON(w, f.code, envelope{Code: f.code, Message: http.StatusText(f.code), RequestID: s.requestID(), Data: struct{}{}})
		return
	case f != nil:
		s.count(f.code)
		if f.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((f.retryAfter+time.Second-1)/time.Second)))
		}
		s.answer(w, f.code, f.message, nil)
		return
	case httpFail:
		s.count(http.StatusServiceUnavailable)
		writeJSON(w, http.StatusServiceUnavailable, envelope{Code: 50002, Message: message(50002), RequestID: s.requestID(), Data: struct{}{}})
		return
	case limited:
		s.count(40100)
		s.answer(w, 40100, "", nil)
		return
	}
	s.serveTracked(w, r, nil)
}

// serveTracked validates and records one request and answers it; failed (a
// PartialNext fault) lists events not to take, answered with 20001.
func (s *Server) serveTracked(w http.ResponseWriter, r *http.Request, failed []int) {
	code, msg := s.track(w, r, failed)
	if code != 0 {
		s.count(code)
		s.answer(w, code, msg, nil)
	}
}

// failedEvent is one entry of the data of a 20001 answer.
type failedEvent struct {
	Index   int    `json:"index"`
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// track validates and records one request; it writes the success answer itself.
func (s *Server) track(w http.ResponseWriter, r *http.Request, failed []int) (int, string) {
	if !s.authorizeCounted(w, r) {
		return 0, ""
	}
	body, err := readBody(r.Body, r.ContentLength, 32<<20)
	if err != nil {
		return 40000, "Invalid request: the body could not be read."
	}
	tb, evs, code, msg := s.validate(body, false)
	if code != 0 {
		return code, msg
	}
	src, srcID := *tb.src, *tb.srcID
	s.mu.Lock()
	now := s.now()
	rid := s.requestIDLocked()
	var kb [128]byte
	var notTaken []failedEvent
	for i, ev := range evs {
		if slices.Contains(failed, i) {
			notTaken = append(notTaken, failedEvent{Index: i, Code: 40002,
				Message: fmt.Sprintf("Invalid value for data[%d]: the event was not taken.", i)})
			continue
		}
		var id string
		if len(ev.id) > 0 {
			key := appendDedupKey(kb[:0], srcID, ev.name, ev.id)
			if t, ok := s.dedup[string(key)]; ok && now.Sub(t) < DedupWindow {
				s.nDedup++
				continue
			}
			k := string(key)
			s.dedup[k] = now
			id = k[len(k)-len(ev.id):] // the key ends with the id: one string for both
		}
		s.accepted = append(s.accepted, AcceptedEvent{EventSource: src, EventSourceID: srcID,
			TestEventCode: tb.testCode, Event: ev.name, EventID: id, EventTime: ev.time,
			RequestID: rid, ReceivedAt: now, Raw: ev.raw})
		s.nAccepted++
	}
	if s.maxRecorded > 0 && len(s.accepted) > s.maxRecorded+s.maxRecorded/4 {
		// Keep the newest in place; clear the rest so their bodies can be freed.
		n := copy(s.accepted, s.accepted[len(s.accepted)-s.maxRecorded:])
		clear(s.accepted[n:])
		s.accepted = s.accepted[:n]
	}
	if len(s.dedup) > 100_000 && s.nAccepted%10_000 == 0 {
		for k, t := range s.dedup {
			if now.Sub(t) >= DedupWindow {
				delete(s.dedup, k)
			}
		}
	}
	if notTaken != nil {
		s.codes[20001]++
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, envelope{Code: 20001, Message: message(20001), RequestID: rid,
			Data: map[string]any{"failed_events": notTaken}})
		return 0, ""
	}
	s.codes[0]++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, envelope{Code: 0, Message: "OK", RequestID: rid, Data: struct{}{}})
	return 0, ""
}

// appendDedupKey appends TikTok's dedup key, event_source_id + event + event_id,
// length-prefixed so that no two triples share a key, the id last.
func appendDedupKey(dst []byte, srcID, name string, id []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(srcID)))
	dst = append(dst, srcID...)
	dst = binary.AppendUvarint(dst, uint64(len(name)))
	dst = append(dst, name...)
	return append(dst, id...)
}

// readBody reads at most limit bytes into a buffer sized from Content-Length. The
// buffer is the request's own: recorded events keep slices of it.
func readBody(r io.Reader, length, limit int64) ([]byte, error) {
	size := int64(512)
	if length > 0 {
		size = min(length, limit) + 1 // +1: room to see EOF without growing
	}
	buf := make([]byte, 0, size)
	lr := io.LimitReader(r, limit)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// authorizeCounted is authorize for /event/track/, whose refusals are counted.
func (s *Server) authorizeCounted(w http.ResponseWriter, r *http.Request) bool {
	rec := &codeRecorder{ResponseWriter: w}
	ok := s.authorize(rec, r, http.MethodPost)
	if !ok {
		s.count(rec.code())
	}
	return ok
}

// codeRecorder notes the code of an answer written through it.
type codeRecorder struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (c *codeRecorder) WriteHeader(status int) {
	c.status = status
	c.ResponseWriter.WriteHeader(status)
}
func (c *codeRecorder) Write(b []byte) (int, error) {
	c.buf.Write(b)
	return c.ResponseWriter.Write(b)
}
func (c *codeRecorder) code() int {
	if c.status != http.StatusOK && c.status != 0 {
		return c.status
	}
	var e envelope
	_ = json.Unmarshal(c.buf.Bytes(), &e)
	return e.Code
}

func (s *Server) knownSource(src, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.advertisers {
		if src == "web" && a.pixels[id] {
			return true
		}
		if _, ok := a.sets[id]; src == "offline" && ok {
			return true
		}
		if src == "crm" && a.crm[id] {
			return true
		}
	}
	return false
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// checkEvent validates one event of source src as TikTok does and returns its
// basics: its name, time and id first, then every field the columns table names,
// in the table's order (a field the source does not take, a hash that is not one, a
// required field missing), then the identity keys. Messages name the field, never
// its value.
func checkEvent(src *sourceRules, i int, raw json.RawMessage) (AcceptedEvent, int, string) {
	bad := func(field, why string) (AcceptedEvent, int, string) {
		return AcceptedEvent{}, 40002, fmt.Sprintf("Invalid value for data[%d]%s: %s", i, field, why)
	}
	fs := fieldsOf
	ev := reflect.New(fs.root.typ)
	if err := json.Unmarshal(raw, ev.Interface()); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			if o := fs.objectAt(te.Field); o != nil && o.array {
				return bad("."+te.Field, "it must be an array of objects.")
			}
			return bad("."+te.Field, "it must be an object.")
		}
		return bad("", "not a valid event object.")
	}
	vals := make([][]json.RawMessage, len(fs.fields))
	fs.root.collect(ev.Elem(), vals)

	name, isString := str(vals[fs.event])
	switch {
	case !isString:
		return bad(".event", "it must be a string.")
	case name == "":
		return bad(".event", "it is required.")
	case !src.web && !standard[name] && !legacy[name]:
		return bad(".event", fmt.Sprintf("not a standard event name; %s events take standard names only.", src.word))
	}
	if right, ok := lowerStandard[strings.ToLower(name)]; ok && right != name {
		return bad(".event", fmt.Sprintf("not a standard event name; event names are case-sensitive (did you mean %s?).", right))
	}
	var tok []byte
	if v := vals[fs.eventTime]; v != nil {
		tok = v[0]
	}
	t, err := strconv.ParseInt(string(tok), 10, 64)
	if err != nil || t <= 0 {
		return bad(".event_time", "it must be an integer of Unix seconds.")
	}
	id, isString := str(vals[fs.eventID])
	if !isString {
		return bad(".event_id", "it must be a string.")
	}
	var present uint64
	for j := range fs.fields {
		f := &fs.fields[j]
		vs := vals[j]
		if vs != nil {
			present |= f.bit
		}
		switch {
		case vs != nil && src.dropped&f.bit != 0:
			return bad("."+f.path, src.word+" events do not take it.")
		case f.bit&fs.basics != 0:
			continue
		}
		if f.hashed {
			for _, v := range vs {
				if !hashed(v) {
					return bad("."+f.path, "it must be a SHA-256 hash (64 lower-case hex characters) or an array of them.")
				}
			}
		}
		if src.required&f.bit != 0 {
			if v, isString := str(vs); !isString {
				return bad("."+f.path, "it must be a string.")
			} else if v == "" {
				return bad("."+f.path, "it is required for "+src.word+" events.")
			}
		}
	}
	if present&src.identity == 0 {
		return bad(".user", "one of "+src.idNames+" is required.")
	}
	return AcceptedEvent{Event: name, EventTime: t, EventID: id}, 0, ""
}

// str returns the first of vs as a string: "" when there is none or it is null,
// false when it is not a string.
func str(vs []json.RawMessage) (string, bool) {
	if len(vs) == 0 {
		return "", true
	}
	var s *string
	if json.Unmarshal(vs[0], &s) != nil {
		return "", false
	}
	if s == nil {
		return "", true
	}
	return *s, true
}

func hashed(v json.RawMessage) bool {
	// The hot cases, one quoted hash or an array of them, without a decoder: hex
	// needs no escapes.
	if len(v) == 66 && v[0] == '"' && v[65] == '"' {
		return isHex64(v[1:65])
	}
	if len(v) > 0 && v[0] == '[' {
		if ok, sure := hashedArray(v); sure {
			return ok
		}
	}
	var one string
	if json.Unmarshal(v, &one) == nil {
		return hex64.MatchString(one)
	}
	var many []string
	if json.Unmarshal(v, &many) != nil || len(many) == 0 {
		return false
	}
	for _, h := range many {
		if !hex64.MatchString(h) {
			return false
		}
	}
	return true
}

var standard = set("AddPaymentInfo", "AddToCart", "AddToWishlist", "ApplicationApproval",
	"CompleteRegistration", "Contact", "CustomizeProduct", "Download", "FindLocation",
	"InitiateCheckout", "Lead", "Purchase", "Schedule", "Search", "StartTrial",
	"SubmitApplication", "Subscribe", "ViewContent")

var legacy = set("CompletePayment", "PlaceAnOrder", "SubmitForm", "ClickButton")

var lowerStandard = func() map[string]string {
	m := map[string]string{}
	for n := range standard {
		m[strings.ToLower(n)] = n
	}
	for n := range legacy {
		m[strings.ToLower(n)] = n
	}
	return m
}()

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func isHex64(b []byte) bool {
	if len(b) != 64 {
		return false
	}
	var bad byte
	for _, c := range b {
		bad |= notLowerHex[c]
	}
	return bad == 0
}

// notLowerHex is 1 for every byte but 0-9 and a-f: one load per byte, no branch.
var notLowerHex = func() (t [256]byte) {
	for i := range t {
		if (i < '0' || i > '9') && (i < 'a' || i > 'f') {
			t[i] = 1
		}
	}
	return t
}()
