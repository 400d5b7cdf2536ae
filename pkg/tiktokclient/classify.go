package tiktokclient

// Class is what an answer means for the events of the request (SPEC §4).
type Class uint8

const (
	// ClassCredential: bad credentials or configuration, and every code not listed
	// elsewhere. No event is at fault: refresh once or pause; never reject.
	ClassCredential Class = iota
	// ClassSuccess: code 0, or 20001 (partial success).
	ClassSuccess
	// ClassRetry: transient; retry the same request with backoff.
	ClassRetry
	// ClassBadEvents: at least one event is bad; bisect to find it.
	ClassBadEvents
)

func (c Class) String() string {
	switch c {
	case ClassSuccess:
		return "success"
	case ClassRetry:
		return "retry"
	case ClassBadEvents:
		return "bad_events"
	default:
		return "credential"
	}
}

// Classify maps a code read from an HTTP 200 answer to its class. The credential
// codes SPEC §4 names (40001, 40006, 40063, 40101, 40102, 40104–40107, 40113, 40118,
// 40119, 40125, 40130, 40300, 40301) fall in the default branch with every unknown code.
func Classify(code int) Class {
	switch {
	case code == 0 || code == 20001:
		return ClassSuccess
	case code == 40000 || code == 40002 || code == 40061 || code == 40062:
		return ClassBadEvents
	case code == 40100, code == 40016, code == 40133, code == 40132, code == 40202,
		code == 50000, code == 50002, code == 60001, code == 61000,
		code >= 51000 && code <= 52999:
		return ClassRetry
	}
	return ClassCredential
}

// IsRateLimit reports TikTok's rate-limit codes: they shrink the shared limiter and
// wait at least the rate-limit floor (1 s) before the retry.
func IsRateLimit(code int) bool { return code == 40100 || code == 40016 || code == 40133 }

// ClassifyHTTP maps a non-200 HTTP status: 5xx and 429 are transient; any other
// status means the API base or path is wrong, a configuration problem.
func ClassifyHTTP(status int) Class {
	if status == 429 || status >= 500 {
		return ClassRetry
	}
	if status == 200 {
		return ClassSuccess
	}
	return ClassCredential
}
