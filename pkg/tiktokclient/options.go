package tiktokclient

import "errors"

// ErrGaveUp is wrapped by Send's error when retryable failures lasted max elapsed.
var ErrGaveUp = errors.New("tiktok: gave up after retrying for max elapsed")

// CredentialError is a credential or configuration answer: no event is at fault.
type CredentialError struct {
	Code      int
	Message   string
	RequestID string
}

func (e *CredentialError) Error() string { return "TODO" }

// Client is safe for concurrent use.
type Client struct{}

// Option configures a Client.
type Option func(*Client)
