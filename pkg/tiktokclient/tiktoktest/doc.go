// Package tiktoktest is a stand-in for the TikTok Events API 2.0, in process, like
// net/http/httptest: NewServer starts it on 127.0.0.1, URL is its base, Close stops it.
//
// It behaves as TikTok does (SPEC §4): HTTP 200 with the {code, message, request_id,
// data} envelope even for errors; POST /open_api/v1.3/event/track/ with the trailing
// slash; Access-Token checked (40104 missing, 40105 incorrect or revoked);
// Content-Type application/json; event_source web|offline|crm and an
// event_source_id of that kind known to an advertiser (otherwise 40002 "Invalid
// value for event_source_id: …", as TikTok answers — "not a valid string." for a
// Pixel code sent as offline or crm); at most 1,000 events; per event (40002
// "Invalid value for data[i]…", refusing the whole request): a standard or legacy
// name for offline events, no case-mismatched standard name for web and CRM events,
// an integer event_time, 64-hex email/phone/external_id (a string or an array),
// page.url for web events and lead.lead_id for CRM events. (These per-source rules
// are the sandbox's own until pkg/events exports its per-source table.) The same event_source_id + event + event_id within 48
// hours (by the injectable clock) is accepted but dropped, as TikTok does.
//
// The zero-config server knows DefaultToken, DefaultAdvertiserID with
// DefaultPixelCode, DefaultEventSetID and DefaultCRMEventSetID, and the OAuth app DefaultAppID /
// DefaultAppSecret / DefaultRefreshToken; every accepted token may use every
// advertiser. It also serves advertiser/info, pixel/list, offline/get,
// offline/update, crm/list and oauth2/refresh_token (which rotates the refresh token), and the
// read-only views /sandbox/accepted and /sandbox/stats.
//
// Assertions: Accepted, AcceptedCount, Requests, CodeCounts, Stats, AutoTracking.
// Faults: FailNext (a TikTok code, or an HTTP status below 600), FailNextWith (a
// code with its message), PartialNext (20001 listing failed events in data),
// FailNextRetryAfter,
// WithErrorRate (seeded HTTP 503s), WithLatency, HangNext, WithRateLimit (40100
// above n requests a second), RevokeToken/RestoreToken, PoisonEvent (a request
// holding that event_id is refused with 40002, so a client must bisect). Faults,
// counters and dedup memory apply to /event/track/ unless said otherwise. Every
// method is safe for concurrent use.
//
// The track handler costs about 1 ms per 1,000-event request (BenchmarkTrack1000):
// one strict pass over the body reads the common shape, and encoding/json, the
// reference, judges anything unusual, so verdicts and messages are the same either way.
package tiktoktest
