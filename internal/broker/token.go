package broker

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// TokenStore keeps the TikTok OAuth refresh token of one app in the token bucket, so
// that a token rotated by one replica is the one every replica, and the next start,
// refreshes with. Its method set is pkg/tiktokclient's TokenStore.
type TokenStore struct {
	js     jetstream.JetStream
	bucket string
	key    string

	mu sync.Mutex
	kv jetstream.KeyValue
}

// NewTokenStore returns the store of appID's refresh token in bucket (Names.TokenBucket,
// created by Ensure).
func NewTokenStore(js jetstream.JetStream, bucket, appID string) *TokenStore {
	return &TokenStore{js: js, bucket: bucket, key: tokenKey(appID)}
}

// tokenKey is "app." + the app id in unpadded base64url, so that any app id is a
// valid key (KV keys allow only [-/_=.a-zA-Z0-9]).
func tokenKey(appID string) string {
	return "app." + base64.RawURLEncoding.EncodeToString([]byte(appID))
}

func (s *TokenStore) bucketKV(ctx context.Context) (jetstream.KeyValue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kv != nil {
		return s.kv, nil
	}
	kv, err := s.js.KeyValue(ctx, s.bucket)
	if err != nil {
		return nil, fmt.Errorf("token bucket %s: %w (it is created at start by the worker's topology setup)", s.bucket, err)
	}
	s.kv = kv
	return kv, nil
}

// Load returns the last saved refresh token, or "" with a nil error when none was
// saved yet (the caller then starts from its configured refresh token).
func (s *TokenStore) Load(ctx context.Context) (string, error) {
	kv, err := s.bucketKV(ctx)
	if err != nil {
		return "", err
	}
	e, err := kv.Get(ctx, s.key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("load refresh token from bucket %s: %w", s.bucket, err)
	}
	return string(e.Value()), nil
}

// Save stores token as the current refresh token, replacing the previous one. The
// error never contains the token.
func (s *TokenStore) Save(ctx context.Context, token string) error {
	kv, err := s.bucketKV(ctx)
	if err != nil {
		return err
	}
	if _, err := kv.PutString(ctx, s.key, token); err != nil {
		return fmt.Errorf("save refresh token to bucket %s: %w", s.bucket, err)
	}
	return nil
}
