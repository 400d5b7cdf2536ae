package tiktoktest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

const h = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"

type answer struct {
	Code      int             `json:"code"`
	Message   string          `json:"message"`
	RequestID string          `json:"request_id"`
	Data      json.RawMessage `json:"data"`
}

func do(t *testing.T, method, url, token, ctype, body string) (int, answer) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Access-Token", token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("answer is not the envelope: %s", raw)
	}
	return resp.StatusCode, a
}

func body(src, id string, evs ...string) string {
	return fmt.Sprintf(`{"event_source":%q,"event_source_id":%q,"data":[%s]}`, src, id, strings.Join(evs, ","))
}

func ev(name, extra string) string {
	return `{"event":"` + name + `","event_time":1763980000,"event_id":"e1","user":{"email":"` + h + `"}` + extra + `}`
}

const page = `,"page":{"url":"https://shop.example/"}`

const lead = `,"lead":{"lead_id":"7000000000000000001","lead_event_source":"HubSpot"}`

func TestTrackValidation(t *testing.T) {
	off, web, crm := tiktoktest.DefaultEventSetID, tiktoktest.DefaultPixelCode, tiktoktest.DefaultCRMEventSetID
	many := make([]string, 1001)
	for i := range many {
		many[i] = ev("Purchase", "")
	}
	cases := []struct {
		name        string
		method      string
		path        string
		token       string
		ctype       string
		body        string
		status      int
		code        int
		msgContains string
	}{
		{"ok offline", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("offline", off, ev("Purchase", "")), 200, 0, "OK"},
		{"ok legacy name", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("offline", off, ev("CompletePayment", "")), 200, 0, ""},
		{"ok web custom name", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("web", web, ev("MyCustomEvent", page)), 200, 0, ""},
		{"ok email array", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("offline", off, `{"event":"Purchase","event_time":1763980000,"user":{"email":["`+h+`","`+h+`"],"phone":"`+h+`"}}`), 200, 0, ""},
		{"no trailing slash", "POST", strings.TrimSuffix(tiktoktest.TrackPath, "/"), tiktoktest.DefaultToken, "application/json", body("offline", off, ev("Purchase", "")), 404, 40400, "slash"},
		{"GET", "GET", tiktoktest.TrackPath, tiktoktest.DefaultToken, "", "", 405, 40400, "POST"},
		{"no token", "POST", tiktoktest.TrackPath, "", "application/json", body("offline", off, ev("Purchase", "")), 200, 40104, "Access token is null"},
		{"wrong token", "POST", tiktoktest.TrackPath, "nope", "application/json", body("offline", off, ev("Purchase", "")), 200, 40105, "Access token is incorrect or has been revoked."},
		{"content type", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "text/plain", body("offline", off, ev("Purchase", "")), 200, 40006, "Content-Type"},
		{"bad json", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", `{"event_source":`, 200, 40000, "JSON"},
		{"bad event_source", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("app", off, ev("Purchase", "")), 200, 40002, "Invalid value for event_source"},
		// TikTok answers 40002 naming event_source_id for a source it does not know,
		// or of the wrong kind, not a permission code.
		{"unknown set", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("offline", "42", ev("Purchase", "")), 200, 40002, "Invalid value for event_source_id: 42 is not an offline event set"},
		{"unknown pixel", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("web", "CNOPE", ev("Purchase", page)), 200, 40002, "Invalid value for event_source_id: CNOPE is not a Pixel code"},
		{"pixel as offline", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("offline", web, ev("Purchase", "")), 200, 40002, "Invalid value for event_source_id: not a valid string."},
		{"pixel as crm", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("crm", web, ev("Lead", lead)), 200, 40002, "Invalid value for event_source_id: not a valid string."},
		{"offline set as crm", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("crm", off, ev("Lead", lead)), 200, 40002, "is not a CRM event set"},
		{"ok crm", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("crm", crm, ev("Lead", lead)), 200, 0, "OK"},
		{"crm without lead_id", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("crm", crm, ev("Lead", ""), ev("Lead", `,"lead":{"lead_event_source":"HubSpot"}`)), 200, 40002, "data[0].lead.lead_id"},
		{"empty data", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("offline", off), 200, 40002, "at least one event"},
		{"1001 events", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("offline", off, many...), 200, 40002, "at most 1000"},
		{"offline custom name", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("offline", off, ev("MyCustomEvent", "")), 200, 40002, "data[0].event"},
		{"web case mismatch", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("web", web, ev("purchase", page)), 200, 40002, "did you mean Purchase"},
		{"float event_time", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("offline", off, `{"event":"Purchase","event_time":1763980000.5,"user":{"email":"`+h+`"}}`), 200, 40002, "event_time"},
		{"string event_time", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("offline", off, `{"event":"Purchase","event_time":"1763980000","user":{"email":"`+h+`"}}`), 200, 40002, "event_time"},
		{"plain email", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("offline", off, ev("Purchase", ""), `{"event":"Purchase","event_time":1763980000,"user":{"email":"a@b.co"}}`), 200, 40002, "data[1].user.email"},
		{"upper-case hash", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("offline", off, `{"event":"Purchase","event_time":1763980000,"user":{"phone":"`+strings.ToUpper(h)+`"}}`), 200, 40002, "user.phone"},
		{"web without page.url", "POST", tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("web", web, ev("Purchase", "")), 200, 40002, "page.url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := tiktoktest.NewServer()
			defer srv.Close()
			status, a := do(t, tc.method, srv.URL+tc.path, tc.token, tc.ctype, tc.body)
			if status != tc.status || a.Code != tc.code || !strings.Contains(a.Message, tc.msgContains) || a.RequestID == "" {
				t.Fatalf("HTTP %d %+v, want HTTP %d code %d with %q", status, a, tc.status, tc.code, tc.msgContains)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.code == 0]; srv.AcceptedCount() != want {
				t.Fatalf("accepted %d", srv.AcceptedCount())
			}
		})
	}
}

func TestDedupWithin48Hours(t *testing.T) {
	now := time.Date(2025, 11, 24, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	srv := tiktoktest.NewServer(tiktoktest.WithClock(clock))
	defer srv.Close()
	send := func() {
		if _, a := do(t, "POST", srv.URL+tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("offline", tiktoktest.DefaultEventSetID, ev("Purchase", ""))); a.Code != 0 {
			t.Fatalf("code %d", a.Code)
		}
	}
	send()
	send() // same event_source_id + event + event_id: dropped
	if srv.AcceptedCount() != 1 || srv.Stats().Deduplicated != 1 {
		t.Fatalf("accepted %d, deduplicated %d", srv.AcceptedCount(), srv.Stats().Deduplicated)
	}
	mu.Lock()
	now = now.Add(49 * time.Hour)
	mu.Unlock()
	send()
	if srv.AcceptedCount() != 2 {
		t.Fatalf("after 49h: accepted %d, want 2", srv.AcceptedCount())
	}
}

func TestFaultsAndCounters(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	good := body("offline", tiktoktest.DefaultEventSetID, ev("Purchase", ""))
	srv.FailNext(1, 503)
	srv.FailNext(1, 50002)
	if st, _ := do(t, "POST", srv.URL+tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", good); st != 503 {
		t.Fatalf("status %d", st)
	}
	if _, a := do(t, "POST", srv.URL+tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", good); a.Code != 50002 {
		t.Fatalf("code %d", a.Code)
	}
	do(t, "POST", srv.URL+tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", good)
	want := map[int]int{503: 1, 50002: 1, 0: 1}
	got := srv.CodeCounts()
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("codes %v, want %v", got, want)
		}
	}
	if srv.Requests() != 3 || srv.AcceptedCount() != 1 {
		t.Fatalf("requests %d accepted %d", srv.Requests(), srv.AcceptedCount())
	}
	// The read-only views serve the same numbers.
	resp, err := http.Get(srv.URL + tiktoktest.StatsPath)
	if err != nil {
		t.Fatal(err)
	}
	var st tiktoktest.Stats
	_ = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.Requests != 3 || st.Accepted != 1 || st.Codes[503] != 1 {
		t.Fatalf("stats %+v", st)
	}
	resp, _ = http.Get(srv.URL + tiktoktest.AcceptedPath)
	var acc struct {
		Count  int                        `json:"count"`
		Events []tiktoktest.AcceptedEvent `json:"events"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&acc)
	resp.Body.Close()
	if acc.Count != 1 || len(acc.Events) != 1 || acc.Events[0].EventID != "e1" || !bytes.Contains(acc.Events[0].Raw, []byte(h)) {
		t.Fatalf("accepted view %+v", acc)
	}
	srv.Reset()
	if srv.Requests() != 0 || srv.AcceptedCount() != 0 || len(srv.CodeCounts()) != 0 {
		t.Fatal("Reset kept counters")
	}
}

// The same seed fails the same requests: load tests are repeatable.
func TestErrorRateIsSeeded(t *testing.T) {
	pattern := func() string {
		srv := tiktoktest.NewServer(tiktoktest.WithErrorRate(0.3, 42))
		defer srv.Close()
		var b strings.Builder
		for range 40 {
			st, _ := do(t, "POST", srv.URL+tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", body("offline", tiktoktest.DefaultEventSetID, ev("Purchase", "")))
			b.WriteByte(map[bool]byte{true: 'x', false: '.'}[st == 503])
		}
		return b.String()
	}
	a, b := pattern(), pattern()
	if a != b || !strings.Contains(a, "x") || !strings.Contains(a, ".") {
		t.Fatalf("patterns %s / %s", a, b)
	}
}

func TestRefreshEndpointRotates(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	ask := func(rt string) answer {
		_, a := do(t, "POST", srv.URL+tiktoktest.RefreshPath, "", "application/json",
			fmt.Sprintf(`{"app_id":%q,"secret":%q,"refresh_token":%q}`, tiktoktest.DefaultAppID, tiktoktest.DefaultAppSecret, rt))
		return a
	}
	a := ask(tiktoktest.DefaultRefreshToken)
	var d struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int    `json:"expires_in"`
	}
	_ = json.Unmarshal(a.Data, &d)
	if a.Code != 0 || d.AccessToken == "" || d.RefreshToken == "" || d.ExpiresIn <= 0 {
		t.Fatalf("%+v", a)
	}
	if again := ask(tiktoktest.DefaultRefreshToken); again.Code != 40107 {
		t.Fatalf("old refresh token still works: %+v", again)
	}
	if _, a := do(t, "POST", srv.URL+tiktoktest.TrackPath, d.AccessToken, "application/json", body("offline", tiktoktest.DefaultEventSetID, ev("Purchase", ""))); a.Code != 0 {
		t.Fatalf("new access token refused: %+v", a)
	}
}

// The sandbox's refusals name the field, never the event's value: an e-mail that
// landed in the event column is not echoed into a dead letter's error.
func TestRefusalsQuoteNoValue(t *testing.T) {
	const email = "ann.customer@example.com"
	off, web := tiktoktest.DefaultEventSetID, tiktoktest.DefaultPixelCode
	for _, b := range []string{
		body("offline", off, ev(email, "")),
		body("web", web, ev(strings.ToLower("Purchase"), page)),
		body("offline", off, `{"event":"Purchase","event_time":1763980000,"user":{"email":"`+email+`"}}`),
	} {
		srv := tiktoktest.NewServer()
		_, a := do(t, "POST", srv.URL+tiktoktest.TrackPath, tiktoktest.DefaultToken, "application/json", b)
		srv.Close()
		if a.Code != 40002 || strings.Contains(a.Message, email) || strings.Contains(a.Message, `"purchase"`) {
			t.Errorf("refusal %+v quotes the event's value", a)
		}
	}
}
