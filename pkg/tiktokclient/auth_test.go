package tiktokclient_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

func refreshSource(srv *tiktoktest.Server, store tiktokclient.TokenStore, secret, refresh string) *tiktokclient.RefreshTokenSource {
	return tiktokclient.NewRefreshTokenSource(tiktokclient.RefreshConfig{
		AppID: tiktoktest.DefaultAppID, Secret: secret, RefreshToken: refresh,
		TokenURL: srv.URL + tiktokclient.RefreshPath, Store: store,
	})
}

func TestRefreshFlowRotatesAndStoresRefreshToken(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	store := &tiktokclient.MemoryTokenStore{}
	ts := refreshSource(srv, store, tiktoktest.DefaultAppSecret, tiktoktest.DefaultRefreshToken)
	c := newClient(t, srv, newFakeClock(), tiktokclient.WithTokenSource(ts))

	if res, err := c.Send(context.Background(), offlineRequest(3)); err != nil || count(res, tiktokclient.Accepted) != 3 {
		t.Fatalf("first send: %v", err)
	}
	rt1, _ := store.Load(context.Background())
	if rt1 == "" || rt1 == tiktoktest.DefaultRefreshToken {
		t.Fatalf("store holds %q, want the rotated refresh token", rt1)
	}
	// TikTok revokes the access token: the client refreshes once and goes on.
	tok, _ := ts.Token()
	srv.RevokeToken(tok.AccessToken)
	res, err := c.Send(context.Background(), offlineRequest(3))
	if err != nil || count(res, tiktokclient.Accepted) != 3 || res.Requests != 2 {
		t.Fatalf("after revocation: err %v, %d requests", err, res.Requests)
	}
	rt2, _ := store.Load(context.Background())
	if rt2 == rt1 || srv.Stats().Refreshes != 2 {
		t.Fatalf("refresh token %q (was %q), %d refreshes", rt2, rt1, srv.Stats().Refreshes)
	}
	// A new process starts from the stored token, not the (now dead) initial one.
	ts2 := refreshSource(srv, store, tiktoktest.DefaultAppSecret, tiktoktest.DefaultRefreshToken)
	if _, err := ts2.Token(); err != nil {
		t.Fatalf("restart with the stored refresh token: %v", err)
	}
}

func TestRefreshOnlyOnceThenPause(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	ts := refreshSource(srv, &tiktokclient.MemoryTokenStore{}, tiktoktest.DefaultAppSecret, tiktoktest.DefaultRefreshToken)
	c := newClient(t, srv, newFakeClock(), tiktokclient.WithTokenSource(ts))
	srv.FailNext(5, 40105) // every token is refused
	res, err := c.Send(context.Background(), offlineRequest(3))
	var ce *tiktokclient.CredentialError
	if !errors.As(err, &ce) || ce.Code != 40105 || res.Requests != 2 || count(res, tiktokclient.Rejected) != 0 {
		t.Fatalf("err %v after %d requests", err, res.Requests)
	}
	if srv.Stats().Refreshes != 2 { // the first token, then the one refresh
		t.Fatalf("%d refreshes", srv.Stats().Refreshes)
	}
}

func TestRefreshWithBadSecretIsCredentialError(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	ts := refreshSource(srv, nil, "wrong-secret-value", tiktoktest.DefaultRefreshToken)
	c := newClient(t, srv, newFakeClock(), tiktokclient.WithTokenSource(ts))
	res, err := c.Send(context.Background(), offlineRequest(2))
	var ce *tiktokclient.CredentialError
	if !errors.As(err, &ce) || ce.Code != 40001 || count(res, tiktokclient.Unsettled) != 2 {
		t.Fatalf("err %v", err)
	}
	assertNoSecret(t, "error", err.Error(), "wrong-secret-value", tiktoktest.DefaultRefreshToken)
}

func TestFileTokenStore(t *testing.T) {
	p := filepath.Join(t.TempDir(), "refresh")
	st := tiktokclient.FileTokenStore{Path: p}
	if v, err := st.Load(context.Background()); v != "" || err != nil {
		t.Fatalf("missing file: %q %v", v, err)
	}
	if err := st.Save(context.Background(), "rft-1"); err != nil {
		t.Fatal(err)
	}
	if v, _ := st.Load(context.Background()); v != "rft-1" {
		t.Fatalf("load %q", v)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
}

// No log line and no error carries a token or secret, across every path that
// touches them: refresh, revocation, refusal, retries, give-up.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	const access, secret, refresh = "acc-TOPSECRET-1234567", "app-TOPSECRET-secret", "rft-TOPSECRET-refresh"
	srv := tiktoktest.NewServer()
	defer srv.Close()
	srv.AddToken(access)
	srv.AddApp("app-2", secret, refresh)
	var logs bytes.Buffer
	log := zerolog.New(&logs).Level(zerolog.DebugLevel)
	var errs []string
	note := func(err error) {
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	static := newClient(t, srv, newFakeClock(), tiktokclient.WithLogger(log),
		tiktokclient.WithTokenSource(tiktokclient.StaticToken(access)), tiktokclient.WithMaxElapsed(5*time.Second))
	srv.FailNext(3, 503)
	_, err := static.Send(context.Background(), offlineRequest(2))
	note(err)
	srv.FailNext(100, 40100)
	_, err = static.Send(context.Background(), offlineRequest(2))
	note(err)
	srv.Reset()
	srv.RevokeToken(access)
	_, err = static.Send(context.Background(), offlineRequest(2))
	note(err)
	note(static.Check(context.Background(), tiktokclient.Target{AdvertiserID: tiktoktest.DefaultAdvertiserID, EventSource: "offline", EventSourceID: tiktoktest.DefaultEventSetID}))

	store := &tiktokclient.MemoryTokenStore{}
	ts := tiktokclient.NewRefreshTokenSource(tiktokclient.RefreshConfig{AppID: "app-2", Secret: secret, RefreshToken: refresh, TokenURL: srv.URL + tiktokclient.RefreshPath, Store: store})
	flow := newClient(t, srv, newFakeClock(), tiktokclient.WithLogger(log), tiktokclient.WithTokenSource(ts))
	_, err = flow.Send(context.Background(), offlineRequest(2))
	note(err)
	tok, _ := ts.Token()
	srv.RevokeToken(tok.AccessToken)
	srv.FailNext(1, 40105)
	_, err = flow.Send(context.Background(), offlineRequest(2))
	note(err)
	bad := tiktokclient.NewRefreshTokenSource(tiktokclient.RefreshConfig{AppID: "app-2", Secret: secret, RefreshToken: "rft-TOPSECRET-dead", TokenURL: srv.URL + tiktokclient.RefreshPath})
	_, err = bad.Token()
	note(err)

	if len(errs) < 4 || logs.Len() == 0 {
		t.Fatalf("the scenarios produced %d errors and %d bytes of logs; the test proves nothing", len(errs), logs.Len())
	}
	rotated, _ := store.Load(context.Background())
	secrets := []string{access, secret, refresh, tok.AccessToken, rotated, "rft-TOPSECRET-dead", "TOPSECRET"}
	assertNoSecret(t, "logs", logs.String(), secrets...)
	for _, e := range errs {
		assertNoSecret(t, "error", e, secrets...)
	}
}
