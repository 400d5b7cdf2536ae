package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

func writeValidateConfig(t *testing.T, destinations string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte("destinations:\n"+destinations), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const validateToken = "validate-TOKEN-do-not-print"

func TestValidateEndToEnd(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	srv.AddToken(validateToken)
	t.Setenv("TIKTOK_API_BASE", srv.URL)
	t.Setenv("TIKTOK_ACCESS_TOKEN", validateToken)
	t.Setenv("NATS_URL", "")
	good := `  - name: stores
    advertiser_id: "` + tiktoktest.DefaultAdvertiserID + `"
    event_source: offline
    event_source_id: "` + tiktoktest.DefaultEventSetID + `"
    fixed_event_name: Purchase
    auto_tracking: true
  - name: web
    advertiser_id: "` + tiktoktest.DefaultAdvertiserID + `"
    event_source: web
    event_source_id: ` + tiktoktest.DefaultPixelCode + `
`
	wrong := `  - name: shop
    advertiser_id: "` + tiktoktest.DefaultAdvertiserID + `"
    event_source: offline
    event_source_id: "123"
`
	t.Run("all pass", func(t *testing.T) {
		stdout, stderr, code := runWorker(t, "", "validate", "--config", writeValidateConfig(t, good))
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
		}
		want := "ok   nats      no nats.url (nor NATS_URL): `worker run` starts an embedded JetStream server over ./data\n" +
			"ok   stores    offline event set " + tiktoktest.DefaultEventSetID + " of advertiser " + tiktoktest.DefaultAdvertiserID + ", auto_tracking on\n" +
			"ok   web       Pixel " + tiktoktest.DefaultPixelCode + " of advertiser " + tiktoktest.DefaultAdvertiserID + "\n"
		if stdout != want {
			t.Fatalf("stdout:\n%s\nwant:\n%s", stdout, want)
		}
		if !srv.AutoTracking(tiktoktest.DefaultEventSetID) {
			t.Fatal("auto_tracking was not turned on")
		}
	})
	t.Run("one fails", func(t *testing.T) {
		stdout, stderr, code := runWorker(t, "", "validate", "--config", writeValidateConfig(t, good+wrong))
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s%s", code, stdout, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[3], "FAIL shop      event_source_id 123 is not an offline event set of advertiser "+tiktoktest.DefaultAdvertiserID+"; for web events use the Pixel code") {
			t.Fatalf("stdout:\n%s", stdout)
		}
		if !strings.Contains(stderr, "0 of 1 NATS checks and 1 of 3 destinations failed") {
			t.Fatalf("stderr: %s", stderr)
		}
	})
	t.Run("revoked token", func(t *testing.T) {
		srv.RevokeToken(validateToken)
		defer srv.RestoreToken(validateToken)
		stdout, stderr, code := runWorker(t, "", "validate", "--config", writeValidateConfig(t, good))
		if code != 1 || !strings.Contains(stdout, "FAIL stores    the access token was refused") || !strings.Contains(stdout, "40105") {
			t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
		}
		if strings.Contains(stdout+stderr, validateToken) {
			t.Fatal("the token was printed")
		}
	})
	t.Run("no token", func(t *testing.T) {
		t.Setenv("TIKTOK_ACCESS_TOKEN", "")
		stdout, stderr, code := runWorker(t, "", "validate", "--config", writeValidateConfig(t, good))
		if code != 1 || !strings.Contains(stdout, "FAIL config") || !strings.Contains(stdout, "TIKTOK_ACCESS_TOKEN") {
			t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
		}
	})
}

func TestValidateRefreshFlow(t *testing.T) {
	srv := tiktoktest.NewServer()
	defer srv.Close()
	dir := t.TempDir()
	rtFile := filepath.Join(dir, "refresh")
	if err := os.WriteFile(rtFile, []byte(tiktoktest.DefaultRefreshToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TIKTOK_API_BASE", srv.URL)
	t.Setenv("NATS_URL", "")
	t.Setenv("TIKTOK_ACCESS_TOKEN", "")
	t.Setenv("TIKTOK_APP_SECRET", tiktoktest.DefaultAppSecret)
	p := filepath.Join(dir, "config.yaml")
	cfg := "tiktok:\n  app_id: " + tiktoktest.DefaultAppID + "\n  refresh_token_file: " + rtFile + "\ndestinations:\n" +
		"  - name: stores\n    advertiser_id: \"" + tiktoktest.DefaultAdvertiserID + "\"\n    event_source: offline\n    event_source_id: \"" + tiktoktest.DefaultEventSetID + "\"\n"
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runWorker(t, "", "validate", "--config", p)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	// TikTok rotated the refresh token: the file now holds the new one.
	b, _ := os.ReadFile(rtFile)
	if got := strings.TrimSpace(string(b)); got == tiktoktest.DefaultRefreshToken || got == "" {
		t.Fatalf("refresh token file holds %q, want the rotated token", got)
	}
	if strings.Contains(stdout+stderr, tiktoktest.DefaultAppSecret) || strings.Contains(stdout+stderr, string(b[:10])) {
		t.Fatal("a secret was printed")
	}
}
