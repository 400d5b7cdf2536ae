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
// name for offline and CRM events, no case-mismatched standard name for web events,
// an integer event_time, and what pkg/events' per-source columns table
// (events.Columns) says of every field it names: a field the source does not take is
// refused ("… offline events do not take it."), a required one must be a non-empty
// string (page.url for web, lead.lead_id for CRM events), a hashed one (email,
// phone, external_id, the name and address keys) 64 lower-case hex characters or an
// array of them, and the event needs one identity key its source takes. Fields the
// table does not name are ignored. Refusals name the field, never its value. The
// same event_source_id + event + event_id within 48 hours (by the injectable clock)
// is accepted but dropped, as TikTok does.
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
// FailNextRetryAfter, WithErrorRate (seeded HTTP 503s), WithLatency, HangNext
// (WaitHanging returns once the server holds such a request), WithRateLimit (40100
// above n requests a second), RevokeToken/RestoreToken, PoisonEvent (a request
// holding that event_id is refused with 40002, so a client must bisect). Faults,
// counters and dedup memory apply to /event/track/ unless said otherwise. Every
// method is safe for concurrent use.
//
// The track handler costs about 1 ms per 1,000-event request (BenchmarkTrack1000):
// one strict pass over the body reads the common shape, and encoding/json, the
// reference, judges anything unusual, so verdicts and messages are the same either way.
package tiktoktest
