package tiktoktest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"
)

type pageInfo struct {
	Page        int `json:"page"`
	PageSize    int `json:"page_size"`
	TotalNumber int `json:"total_number"`
	TotalPage   int `json:"total_page"`
}

func onePage(n int) pageInfo { return pageInfo{Page: 1, PageSize: 100, TotalNumber: n, TotalPage: 1} }

// idList reads a list parameter: TikTok wants a JSON array of strings in the query.
func idList(v string) ([]string, bool) {
	var ids []string
	if json.Unmarshal([]byte(v), &ids) != nil || len(ids) == 0 {
		return nil, false
	}
	return ids, true
}

// advertiser returns the advertiser or answers 40001.
func (s *Server) lookupAdvertiser(w http.ResponseWriter, id string) (*advertiser, bool) {
	if id == "" {
		s.answer(w, 40002, "Invalid value for advertiser_id: it is required.", nil)
		return nil, false
	}
	s.mu.Lock()
	a := s.advertisers[id]
	s.mu.Unlock()
	if a == nil {
		s.answer(w, 40001, fmt.Sprintf("No permission to operate advertiser %s, or it does not exist.", id), nil)
		return nil, false
	}
	return a, true
}

func (s *Server) serveAdvertiserInfo(w http.ResponseWriter, r *http.Request) {
	if !s.authorize(w, r, http.MethodGet) {
		return
	}
	ids, ok := idList(r.URL.Query().Get("advertiser_ids"))
	if !ok {
		s.answer(w, 40002, `Invalid value for advertiser_ids: it must be a JSON array of ids, e.g. ["123"].`, nil)
		return
	}
	type info struct {
		AdvertiserID string `json:"advertiser_id"`
		Name         string `json:"name"`
		Status       string `json:"status"`
		Currency     string `json:"currency"`
		Timezone     string `json:"timezone"`
	}
	list := []info{}
	for _, id := range ids {
		if _, ok := s.lookupAdvertiser(w, id); !ok {
			return
		}
		list = append(list, info{AdvertiserID: id, Name: "Sandbox advertiser " + id, Status: "STATUS_ENABLE", Currency: "USD", Timezone: "Etc/GMT"})
	}
	s.answer(w, 0, "", map[string]any{"list": list})
}

func (s *Server) servePixelList(w http.ResponseWriter, r *http.Request) {
	if !s.authorize(w, r, http.MethodGet) {
		return
	}
	q := r.URL.Query()
	a, ok := s.lookupAdvertiser(w, q.Get("advertiser_id"))
	if !ok {
		return
	}
	type pixel struct {
		PixelCode string `json:"pixel_code"`
		PixelID   string `json:"pixel_id"`
		PixelName string `json:"pixel_name"`
	}
	s.mu.Lock()
	codes := make([]string, 0, len(a.pixels))
	for c := range a.pixels {
		if code := q.Get("code"); code == "" || code == c {
			codes = append(codes, c)
		}
	}
	s.mu.Unlock()
	sort.Strings(codes)
	pixels := []pixel{}
	for i, c := range codes {
		pixels = append(pixels, pixel{PixelCode: c, PixelID: strconv.Itoa(7000000000000000000 + i), PixelName: "Sandbox Pixel " + c})
	}
	s.answer(w, 0, "", map[string]any{"pixels": pixels, "page_info": onePage(len(pixels))})
}

// eventSetQuery reads an event set list request (offline/get, crm/list): the
// advertiser and the event_set_ids filter; false means it answered.
func (s *Server) eventSetQuery(w http.ResponseWriter, r *http.Request) (*advertiser, []string, bool) {
	if !s.authorize(w, r, http.MethodGet) {
		return nil, nil, false
	}
	q := r.URL.Query()
	a, ok := s.lookupAdvertiser(w, q.Get("advertiser_id"))
	if !ok {
		return nil, nil, false
	}
	var want []string
	if v := q.Get("event_set_ids"); v != "" {
		if want, ok = idList(v); !ok {
			s.answer(w, 40002, `Invalid value for event_set_ids: it must be a JSON array of ids, e.g. ["123"].`, nil)
			return nil, nil, false
		}
	}
	return a, want, true
}

func (s *Server) serveOfflineGet(w http.ResponseWriter, r *http.Request) {
	a, want, ok := s.eventSetQuery(w, r)
	if !ok {
		return
	}
	type eventSet struct {
		EventSetID   string `json:"event_set_id"`
		Name         string `json:"name"`
		AutoTracking bool   `json:"auto_tracking"`
	}
	list := []eventSet{}
	s.mu.Lock()
	for id, on := range a.sets {
		if len(want) == 0 || contains(want, id) {
			list = append(list, eventSet{EventSetID: id, Name: "Sandbox event set " + id, AutoTracking: on})
		}
	}
	s.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].EventSetID < list[j].EventSetID })
	s.answer(w, 0, "", map[string]any{"event_set_list": list, "page_info": onePage(len(list))})
}

// serveCRMList lists an advertiser's CRM event sets, filtered by event_set_ids.
func (s *Server) serveCRMList(w http.ResponseWriter, r *http.Request) {
	a, want, ok := s.eventSetQuery(w, r)
	if !ok {
		return
	}
	type crmSet struct {
		EventSetID string `json:"event_set_id"`
		Name       string `json:"name"`
		CreateTime string `json:"create_time"`
	}
	list := []crmSet{}
	s.mu.Lock()
	for id := range a.crm {
		if len(want) == 0 || contains(want, id) {
			list = append(list, crmSet{EventSetID: id, Name: "Sandbox CRM event set " + id, CreateTime: "2025-01-01T00:00:00Z"})
		}
	}
	s.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].EventSetID < list[j].EventSetID })
	s.answer(w, 0, "", map[string]any{"crm_event_sets": list})
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (s *Server) serveOfflineUpdate(w http.ResponseWriter, r *http.Request) {
	if !s.authorize(w, r, http.MethodPost) {
		return
	}
	var body struct {
		AdvertiserID string `json:"advertiser_id"`
		EventSetID   string `json:"event_set_id"`
		AutoTracking *bool  `json:"auto_tracking"`
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil {
		s.answer(w, 40000, "Invalid request: the body is not valid JSON.", nil)
		return
	}
	a, ok := s.lookupAdvertiser(w, body.AdvertiserID)
	if !ok {
		return
	}
	s.mu.Lock()
	_, known := a.sets[body.EventSetID]
	if known && body.AutoTracking != nil {
		a.sets[body.EventSetID] = *body.AutoTracking
	}
	s.mu.Unlock()
	if !known {
		s.answer(w, 40002, fmt.Sprintf("Invalid value for event_set_id: %s is not an offline event set of advertiser %s.", body.EventSetID, body.AdvertiserID), nil)
		return
	}
	s.answer(w, 0, "", nil)
}

// serveRefresh exchanges a refresh token and rotates it: the old one stops working.
func (s *Server) serveRefresh(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, envelope{Code: 40400, Message: "Method not allowed: use POST.", RequestID: s.requestID(), Data: struct{}{}})
		return
	}
	var body struct {
		AppID        string `json:"app_id"`
		Secret       string `json:"secret"`
		RefreshToken string `json:"refresh_token"`
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil {
		s.answer(w, 40000, "Invalid request: the body is not valid JSON.", nil)
		return
	}
	s.mu.Lock()
	a := s.apps[body.AppID]
	if a == nil || a.secret != body.Secret {
		s.mu.Unlock()
		s.answer(w, 40001, "The app_id or secret is incorrect.", nil)
		return
	}
	if !a.refresh[body.RefreshToken] {
		s.mu.Unlock()
		s.answer(w, 40107, "", nil)
		return
	}
	s.seq++
	access := fmt.Sprintf("sandbox-access-%d-%d", s.seq, s.now().UnixNano())
	refresh := fmt.Sprintf("sandbox-refresh-%d-%d", s.seq, s.now().UnixNano())
	delete(a.refresh, body.RefreshToken)
	a.refresh[refresh] = true
	s.tokens[access] = true
	s.refreshes++
	s.mu.Unlock()
	s.answer(w, 0, "", map[string]any{
		"access_token":             access,
		"token_type":               "Bearer",
		"expires_in":               int64((24 * time.Hour).Seconds()),
		"refresh_token":            refresh,
		"refresh_token_expires_in": int64((365 * 24 * time.Hour).Seconds()),
	})
}

func (s *Server) serveAccepted(w http.ResponseWriter, r *http.Request) {
	limit := 1000
	if v, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && v >= 0 {
		limit = v
	}
	s.mu.Lock()
	total := s.nAccepted
	evs := s.accepted
	if len(evs) > limit {
		evs = evs[len(evs)-limit:]
	}
	evs = append([]AcceptedEvent{}, evs...)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"count": total, "events": evs})
}
