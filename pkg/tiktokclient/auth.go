package tiktokclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// RefreshPath is TikTok's token refresh endpoint for Marketing API apps.
const RefreshPath = "/open_api/v1.3/oauth2/refresh_token/"

// TokenStore keeps the newest refresh token, so that every replica and the next
// restart use it after TikTok rotated it. Load returns "" when nothing is stored.
type TokenStore interface {
	Load(ctx context.Context) (string, error)
	Save(ctx context.Context, refreshToken string) error
}

// MemoryTokenStore keeps the refresh token in memory (tests, single processes).
type MemoryTokenStore struct {
	mu sync.Mutex
	v  string
}

// Load returns the stored token.
func (m *MemoryTokenStore) Load(context.Context) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.v, nil
}

// Save stores the token.
func (m *MemoryTokenStore) Save(_ context.Context, v string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.v = v
	return nil
}

// FileTokenStore keeps the refresh token in a file (mode 0600, replaced atomically).
type FileTokenStore struct{ Path string }

// Load reads the file; a missing file is "" and no error.
func (f FileTokenStore) Load(context.Context) (string, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the refresh token file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Save writes the file through a temporary file and a rename, so that a crash
// never leaves half a token.
func (f FileTokenStore) Save(_ context.Context, v string) error {
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), ".refresh-token-*") // mode 0600
	if err != nil {
		return fmt.Errorf("saving the refresh token: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	_, err = tmp.WriteString(v + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), f.Path)
	}
	if err != nil {
		return fmt.Errorf("saving the refresh token: %w", err)
	}
	return nil
}

// RefreshConfig is the OAuth refresh flow: app id + secret + refresh token,
// exchanged at TokenURL for an access token.
type RefreshConfig struct {
	AppID        string
	Secret       string
	RefreshToken string       // the initial refresh token; a stored one wins
	TokenURL     string       // default DefaultAPIBase + RefreshPath
	Store        TokenStore   // default a MemoryTokenStore
	HTTPClient   *http.Client // default a client with a 30 s timeout
	Now          func() time.Time
}

// RefreshTokenSource is an oauth2.TokenSource for the refresh flow: our exchange
// (TikTok wraps token answers in its {code, message, data} envelope, which
// oauth2.Config cannot read) behind oauth2.ReuseTokenSource, plus Invalidate so the
// client can refresh once when TikTok refuses the token before it expired.
type RefreshTokenSource struct {
	ex *exchanger
	mu sync.Mutex
	ts oauth2.TokenSource
}

// NewRefreshTokenSource builds the refresh flow's token source.
func NewRefreshTokenSource(cfg RefreshConfig) *RefreshTokenSource {
	if cfg.TokenURL == "" {
		cfg.TokenURL = DefaultAPIBase + RefreshPath
	}
	if cfg.Store == nil {
		cfg.Store = &MemoryTokenStore{}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second, Transport: NewTransport(4)}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ex := &exchanger{cfg: cfg}
	return &RefreshTokenSource{ex: ex, ts: oauth2.ReuseTokenSource(nil, ex)}
}

// Token returns the current access token, exchanging the refresh token when there
// is none or it expired.
func (s *RefreshTokenSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	ts := s.ts
	s.mu.Unlock()
	return ts.Token()
}

// Invalidate makes the next Token call exchange anew, unless the refused token was
// already replaced (concurrent senders refuse the same token at once).
func (s *RefreshTokenSource) Invalidate(accessToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, err := s.ex.last(); err == nil && cur != accessToken {
		return
	}
	s.ts = oauth2.ReuseTokenSource(nil, s.ex)
}

type exchanger struct {
	cfg  RefreshConfig
	mu   sync.Mutex
	tok  string
	have bool
}

func (e *exchanger) last() (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.have {
		return "", errors.New("none")
	}
	return e.tok, nil
}

// Token exchanges the refresh token. Errors name the step, never the secrets.
func (e *exchanger) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rt, err := e.cfg.Store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading the refresh token: %w", err)
	}
	if rt == "" {
		rt = e.cfg.RefreshToken
	}
	if rt == "" || e.cfg.AppID == "" || e.cfg.Secret == "" {
		return nil, &CredentialError{Code: -1, Message: "the refresh flow needs tiktok.app_id, the app secret and a refresh token"}
	}
	body, _ := json.Marshal(map[string]string{
		"app_id": e.cfg.AppID, "secret": e.cfg.Secret, "refresh_token": rt, "grant_type": "refresh_token",
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.TokenURL, bytes.NewReader(body))
	if err != nil {
		return nil, &CredentialError{Code: -1, Message: "bad token URL (tiktok.token_url)"}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("refreshing the access token: %w", redactURLError(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("refreshing the access token: %w", err)
	}
	if resp.StatusCode == 429 || resp.StatusCode >= 500 {
		return nil, fmt.Errorf("refreshing the access token: HTTP %d", resp.StatusCode)
	}
	var ans struct {
		Code      int    `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
		Data      struct {
			AccessToken           string `json:"access_token"`
			RefreshToken          string `json:"refresh_token"`
			ExpiresIn             int64  `json:"expires_in"`
			RefreshTokenExpiresIn int64  `json:"refresh_token_expires_in"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &ans) != nil {
		return nil, &CredentialError{Code: resp.StatusCode, HTTPStatus: resp.StatusCode,
			Message: fmt.Sprintf("HTTP %d %s at the token endpoint, without TikTok's envelope; check tiktok.token_url", resp.StatusCode, http.StatusText(resp.StatusCode))}
	}
	switch Classify(ans.Code) {
	case ClassSuccess:
	case ClassRetry:
		return nil, fmt.Errorf("refreshing the access token: tiktok code %d: %s", ans.Code, ans.Message)
	default:
		return nil, &CredentialError{Code: ans.Code, Message: "refreshing the access token: " + ans.Message, RequestID: ans.RequestID}
	}
	if ans.Data.AccessToken == "" {
		return nil, &CredentialError{Code: ans.Code, Message: "the token endpoint returned no access token", RequestID: ans.RequestID}
	}
	if ans.Data.RefreshToken != "" && ans.Data.RefreshToken != rt {
		// Rotated: the old one stops working, so losing the new one would lock us out.
		if err := e.cfg.Store.Save(ctx, ans.Data.RefreshToken); err != nil {
			return nil, fmt.Errorf("saving the rotated refresh token: %w", err)
		}
	}
	t := &oauth2.Token{AccessToken: ans.Data.AccessToken, TokenType: "Access-Token"}
	if ans.Data.ExpiresIn > 0 {
		// Renew a minute early so no request carries a token that expires in flight.
		t.Expiry = e.cfg.Now().Add(time.Duration(ans.Data.ExpiresIn)*time.Second - time.Minute)
	}
	e.mu.Lock()
	e.tok, e.have = t.AccessToken, true
	e.mu.Unlock()
	return t, nil
}
