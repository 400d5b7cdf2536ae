package tiktokclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// Paths of the connection check (SPEC §4).
const (
	AdvertiserInfoPath = "/open_api/v1.3/advertiser/info/"
	PixelListPath      = "/open_api/v1.3/pixel/list/"
	OfflineGetPath     = "/open_api/v1.3/offline/get/"
	OfflineUpdatePath  = "/open_api/v1.3/offline/update/"
	// CRMListPath lists an advertiser's CRM event sets (advertiser_id, and
	// event_set_ids as a JSON array; data.crm_event_sets[].event_set_id). TikTok's
	// Events API 2.0 reference sends users to /crm/list/ for a CRM event set id;
	// bububa/tiktok-business (api/event/crm_list.go) calls GET v1.3/crm/list with
	// these parameters. Not found in TikTok's own pages we could search: if TikTok
	// moves it, this is the one place to change.
	CRMListPath = "/open_api/v1.3/crm/list/"
)

// Target is what a destination sends to: the subject of a connection check.
type Target struct {
	AdvertiserID  string
	EventSource   string // "web", "offline" or "crm"
	EventSourceID string // Pixel code (web), offline event set id or CRM event set id
	AutoTracking  bool   // offline only: turn auto_tracking on for the event set
}

// Describe names the target in plain words: "offline event set 123 of advertiser 456".
func (t Target) Describe() string {
	return fmt.Sprintf("%s %s of advertiser %s", sourceKind(t.EventSource), t.EventSourceID, t.AdvertiserID)
}

// sourceKind names what an event source's id is.
func sourceKind(src string) string {
	switch src {
	case "offline":
		return "offline event set"
	case "crm":
		return "CRM event set"
	}
	return "Pixel"
}

// tokenCodes are the answers that mean the token itself is refused.
var tokenCodes = map[int]bool{40101: true, 40102: true, 40104: true, 40105: true, 40106: true, 40107: true}

// Check is the connection check: the token works, the advertiser is reachable, the
// event source exists for it (and, for an offline set with AutoTracking, sets
// auto_tracking). Each failure names the setting at fault in plain words; a
// credential or configuration answer is wrapped *CredentialError (errors.As), a
// TikTok that does not answer for the check's max elapsed wraps ErrGaveUp.
func (c *Client) Check(ctx context.Context, t Target) error {
	if t.AdvertiserID == "" {
		return errors.New("advertiser_id is empty")
	}
	if t.EventSourceID == "" {
		return errors.New("event_source_id is empty")
	}
	if t.EventSource != "web" && t.EventSource != "offline" && t.EventSource != "crm" {
		return fmt.Errorf("event_source %q must be web, offline or crm", t.EventSource)
	}
	var st callState
	q := url.Values{"advertiser_ids": {jsonArray(t.AdvertiserID)}}
	ans, err := c.checkCall(ctx, http.MethodGet, AdvertiserInfoPath, q, nil, &st)
	if err != nil {
		var ce *CredentialError
		switch {
		case errors.As(err, &ce) && tokenCodes[ce.Code]:
			return fmt.Errorf("the access token was refused: %w", err)
		case errors.As(err, &ce):
			return fmt.Errorf("advertiser_id %s is not reachable with this access token: %w", t.AdvertiserID, err)
		}
		// TikTok did not answer (ErrGaveUp) or ctx ended: nothing is known of the advertiser.
		return fmt.Errorf("checking advertiser_id %s: %w", t.AdvertiserID, err)
	}
	var adv struct {
		List []struct {
			AdvertiserID json.Number `json:"advertiser_id"`
		} `json:"list"`
	}
	if err := c.decodeOK(ans, &adv); err != nil {
		return fmt.Errorf("advertiser_id %s: %w", t.AdvertiserID, err)
	}
	found := false
	for _, a := range adv.List {
		found = found || a.AdvertiserID.String() == t.AdvertiserID
	}
	if !found {
		return fmt.Errorf("advertiser_id %s was not found, or this access token may not use it", t.AdvertiserID)
	}
	if t.EventSource == "crm" {
		isCRM, err := c.hasCRMSet(ctx, t, &st)
		if err != nil {
			return err
		}
		if isCRM {
			return nil
		}
		hint := "find the CRM event set id in Events Manager (CRM events), or set event_source to the kind this id is"
		if isPixel, err := c.hasPixel(ctx, t, &st); err == nil && isPixel {
			hint = "it is a Pixel code: set event_source: web"
		} else if isSet, err := c.hasEventSet(ctx, t, &st); err == nil && isSet {
			hint = "it is an offline event set: set event_source: offline"
		}
		return fmt.Errorf("event_source_id %s is not a CRM event set of advertiser %s; %s", t.EventSourceID, t.AdvertiserID, hint)
	}
	isPixel, err := c.hasPixel(ctx, t, &st)
	if err != nil {
		return err
	}
	if t.EventSource == "web" {
		if isPixel {
			return nil
		}
		hint := "for offline events use the offline event set id and event_source offline"
		if isSet, err := c.hasEventSet(ctx, t, &st); err == nil && isSet {
			hint = "it is an offline event set: set event_source: offline"
		} else if isCRM, err := c.hasCRMSet(ctx, t, &st); err == nil && isCRM {
			hint = "it is a CRM event set: set event_source: crm"
		}
		return fmt.Errorf("event_source_id %s is not a Pixel code of advertiser %s; %s", t.EventSourceID, t.AdvertiserID, hint)
	}
	isSet, err := c.hasEventSet(ctx, t, &st)
	if err != nil {
		return err
	}
	if !isSet {
		hint := "for web events use the Pixel code"
		if isPixel {
			hint = "it is a Pixel code: set event_source: web"
		} else if isCRM, err := c.hasCRMSet(ctx, t, &st); err == nil && isCRM {
			hint = "it is a CRM event set: set event_source: crm"
		}
		return fmt.Errorf("event_source_id %s is not an offline event set of advertiser %s; %s", t.EventSourceID, t.AdvertiserID, hint)
	}
	if t.AutoTracking {
		body, _ := json.Marshal(struct {
			AdvertiserID string `json:"advertiser_id"`
			EventSetID   string `json:"event_set_id"`
			AutoTracking bool   `json:"auto_tracking"`
		}{t.AdvertiserID, t.EventSourceID, true})
		ans, err := c.checkCall(ctx, http.MethodPost, OfflineUpdatePath, nil, body, &st)
		if err == nil {
			err = c.decodeOK(ans, nil)
		}
		if err != nil {
			return fmt.Errorf("auto_tracking: turning it on for offline event set %s failed: %w", t.EventSourceID, err)
		}
	}
	return nil
}

func (c *Client) hasPixel(ctx context.Context, t Target, st *callState) (bool, error) {
	q := url.Values{"advertiser_id": {t.AdvertiserID}, "code": {t.EventSourceID}}
	ans, err := c.checkCall(ctx, http.MethodGet, PixelListPath, q, nil, st)
	var px struct {
		Pixels []struct {
			PixelCode string `json:"pixel_code"`
		} `json:"pixels"`
	}
	if err == nil {
		err = c.decodeOK(ans, &px)
	}
	if err != nil {
		return false, fmt.Errorf("listing the Pixels of advertiser %s: %w", t.AdvertiserID, err)
	}
	for _, p := range px.Pixels {
		if p.PixelCode == t.EventSourceID {
			return true, nil
		}
	}
	return false, nil
}

func (c *Client) hasEventSet(ctx context.Context, t Target, st *callState) (bool, error) {
	return c.hasSet(ctx, t, st, OfflineGetPath, "event_set_list", "offline")
}

func (c *Client) hasCRMSet(ctx context.Context, t Target, st *callState) (bool, error) {
	return c.hasSet(ctx, t, st, CRMListPath, "crm_event_sets", "crm")
}

// hasSet asks path for the advertiser's event set t.EventSourceID; data[listKey]
// lists the sets found, each with its event_set_id.
func (c *Client) hasSet(ctx context.Context, t Target, st *callState, path, listKey, src string) (bool, error) {
	q := url.Values{"advertiser_id": {t.AdvertiserID}, "event_set_ids": {jsonArray(t.EventSourceID)}}
	ans, err := c.checkCall(ctx, http.MethodGet, path, q, nil, st)
	var data map[string]json.RawMessage
	var sets []struct {
		EventSetID json.Number `json:"event_set_id"`
	}
	if err == nil {
		err = c.decodeOK(ans, &data)
	}
	if err == nil && data[listKey] != nil {
		if uerr := json.Unmarshal(data[listKey], &sets); uerr != nil {
			err = fmt.Errorf("unexpected answer (request_id %s): %w", ans.RequestID, uerr)
		}
	}
	if err != nil {
		return false, fmt.Errorf("listing the %ss of advertiser %s: %w", sourceKind(src), t.AdvertiserID, err)
	}
	for _, s := range sets {
		if s.EventSetID.String() == t.EventSourceID {
			return true, nil
		}
	}
	return false, nil
}

func (c *Client) checkCall(ctx context.Context, method, path string, q url.Values, body []byte, st *callState) (answer, error) {
	return c.callFor(ctx, method, path, q, body, st, c.checkElapsed, "the connection check's limit")
}

// decodeOK turns a bad-events answer of a check call (TikTok refused a parameter)
// into an error and decodes data into v.
func (c *Client) decodeOK(ans answer, v any) error {
	if Classify(ans.Code) != ClassSuccess {
		return fmt.Errorf("TikTok refused a parameter (code %d: %s, request_id %s)", ans.Code, ans.Message, ans.RequestID)
	}
	if v == nil || len(ans.Data) == 0 {
		return nil
	}
	if err := json.Unmarshal(ans.Data, v); err != nil {
		return fmt.Errorf("unexpected answer (request_id %s): %w", ans.RequestID, err)
	}
	return nil
}

// jsonArray encodes one id as the JSON array TikTok wants in list parameters.
func jsonArray(id string) string { return "[" + strconv.Quote(id) + "]" }
