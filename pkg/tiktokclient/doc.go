// Package tiktokclient delivers events to the TikTok Events API 2.0 and says precisely
// what happened to each one. It knows nothing of NATS.
//
// Send posts one destination's events (≤ 1,000; more are cut into requests of
// 1,000) to {api_base}/open_api/v1.3/event/track/ and returns one Outcome per
// event. It reads TikTok's code on every answer and classifies it (Classify):
//
//   - success (0, 20001): every event of the request is Accepted; what a partial
//     success (20001) lists in data as not taken is counted on Result.Partial
//     (counts by code only: TikTok's words for an event may quote its values);
//   - retry (HTTP 5xx and 429, network errors and timeouts, 40100, 40016, 40133,
//     40132, 40202, 50000, 50002, 51xxx, 52xxx, 60001, 61000): the same request is
//     retried with exponential backoff (×2, ±50 % jitter, from WithInitialInterval,
//     at least 1 s after the rate-limit codes 40100/40016/40133, longer when a
//     Retry-After header asks) until WithMaxElapsed (15 min); then Send returns an
//     error wrapping ErrGaveUp and the events stay Unsettled;
//   - bad events (40000, 40002, 40061, 40062): TikTok refused the whole request for
//     at least one event. The client bisects: it sends the left half; when that
//     half is accepted the right half is known to hold the bad event and is split
//     without being sent. A single event is always sent alone, so it is Rejected
//     on its own answer (TikTok's code, message and request_id) only. Two
//     exceptions are configuration errors (a *CredentialError, nothing Rejected):
//     an answer whose message names the envelope rather than an event
//     (EnvelopeField: event_source, event_source_id, test_event_code, the
//     advertiser, the token — TikTok answers 40002 "Invalid value for
//     event_source_id: not a valid string." for an offline request sent with a
//     Pixel code), and a request none of whose events is accepted while every
//     event sent alone is refused the same way (same code, same field named):
//     once the first two events bisection sends alone are refused alike with
//     nothing accepted, up to 8 more, spread over the request (all of them when
//     it holds no more), are sent alone; if they are refused alike too, no event
//     is at fault (CredentialError.RefusedAlike);
//   - credentials or configuration (every other code): no event is at fault. A
//     token source that implements Invalidator (NewRefreshTokenSource) is
//     refreshed once per Send; otherwise, or if the new token is refused too, Send
//     returns a *CredentialError and the events stay Unsettled. Nothing is ever
//     Rejected because of credentials.
//
// Cost of bisection, for n events of which k are bad: 1 request when k = 0, and at
// most 1 + 2·k·⌈log2 n⌉ requests otherwise (each level of the search costs one
// request when the bad event is in the right half, two when it is in the left),
// plus at most 8 when the first two events sent alone are refused alike with
// nothing accepted yet. Telling a refusal of every event costs at most
// ⌈log2 n⌉ + 2 + 8 requests (20 for n = 1,000). Measured against tiktoktest with
// n = 1,000 (⌈log2 n⌉ = 10): one bad event costs 12 requests at the end of the
// batch, 18 in the middle, 19 at the start (the bound is 21); two neighbours cost
// 23; five spread events 59 (bound 101); every event refused alike 20.
//
// One Limiter per process (NewLimiter, default 1,000 requests/s) is shared by every
// destination's client; it halves its rate on TikTok's rate-limit codes and adds 1 %
// of the ceiling back after each success (AIMD), so a fleet of replicas shares the
// app's quota without coordination.
//
// Auth is an oauth2.TokenSource: StaticToken for a long-term access token (the
// common case), or NewRefreshTokenSource: app id + secret + refresh token exchanged
// at POST /open_api/v1.3/oauth2/refresh_token/ (TikTok's {code, message, data}
// envelope), cached by oauth2.ReuseTokenSource; a rotated refresh token is saved to
// a TokenStore (FileTokenStore, MemoryTokenStore, or the worker's JetStream one).
// Tokens and secrets never appear in logs or error texts.
//
// Check is the connection check of `worker validate` and of `run`'s start-up: the
// token works and the advertiser is reachable (advertiser/info), the event source
// exists (pixel/list for web, offline/get for offline, crm/list for crm —
// CRMListPath), and optionally turns auto_tracking on (offline/update). Each failure
// names the setting at fault, and when the id is a source of another kind, says
// which event_source to set.
//
// WithObserver hears every HTTP exchange as it happens (a Response: path, the
// request's event source id, HTTP status, TikTok's code, class, events in the
// request, time taken, network error, and the attempt number, when the request's
// first attempt began and whether and when it will be retried), retries and
// bisection included, so a metric of TikTok's answers counts what TikTok actually
// answered rather than one outcome per Send, and an outage is visible while it
// lasts ("retrying since FirstAttempt"). It carries no token and no body.
//
// The transport keeps connections alive (NewTransport), bounds each attempt with
// WithRequestTimeout (30 s), sends a User-Agent naming the project and its version,
// and compresses nothing: TikTok documents no request compression. Request bodies
// are built into pooled buffers. Tests inject a Clock (WithClock) so that retries
// take no wall time, and a TimerClock so that request timeouts fire when the test
// says, never early on a loaded machine; pkg/tiktokclient/tiktoktest is the TikTok
// stand-in they run against.
package tiktokclient
