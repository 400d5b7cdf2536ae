package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The secret used in these tests; no error or warning may contain it.
const fileSecret = "s3cr3t-TOKEN-value"

func TestSecretFileTrimmingAndLineBreaks(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		want          string // the secret read, or "" when an error is wanted
		wantErr       string
	}{
		{"final LF", fileSecret + "\n", fileSecret, ""},
		{"final CRLF", fileSecret + "\r\n", fileSecret, ""},
		{"no newline", fileSecret, fileSecret, ""},
		{"spaces around", "  " + fileSecret + " \n", fileSecret, ""},
		{"two lines", fileSecret + "\nsecond-line\n", "", "holds 2 lines: a secret is one line"},
		{"CRLF inside", fileSecret + "\r\nmore\r\n", "", "holds 2 lines"},
		{"blank line at the end", fileSecret + "\n\n", "", "holds 2 lines"},
		{"lone CR inside", fileSecret + "\rx", "", "holds 2 lines"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := parse(t, fmt.Sprintf("tiktok:\n  access_token_file: %s\n", p), nil)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.TikTok.AccessToken != tc.want {
					t.Fatalf("token %q, want %q", c.TikTok.AccessToken, tc.want)
				}
				return
			}
			assertErr(t, err, "tiktok.access_token_file", "", tc.wantErr)
			if strings.Contains(err.Error(), fileSecret) {
				t.Fatalf("the error shows the secret: %v", err)
			}
		})
	}
}

func TestSecretVariableWithLineBreak(t *testing.T) {
	_, err := parse(t, "", env{"TIKTOK_ACCESS_TOKEN": fileSecret + "\nx"})
	assertErr(t, err, "tiktok.access_token_env", "", "the variable TIKTOK_ACCESS_TOKEN holds 2 lines")
	if strings.Contains(err.Error(), fileSecret) {
		t.Fatalf("the error shows the secret: %v", err)
	}
	c := mustParse(t, "", env{"TIKTOK_ACCESS_TOKEN": fileSecret + "\n"})
	if c.TikTok.AccessToken != fileSecret {
		t.Fatalf("token %q", c.TikTok.AccessToken)
	}
}

func TestSecretFilePermissionWarning(t *testing.T) {
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{
		{0o600, false},
		{0o400, false},
		{0o640, true},
		{0o604, true},
		{0o644, true},
	} {
		t.Run(fmt.Sprintf("%04o", tc.mode), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(p, []byte(fileSecret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tc.mode); err != nil {
				t.Fatal(err)
			}
			c := mustParse(t, fmt.Sprintf("tiktok:\n  app_secret_file: %s\n", p), nil)
			got := strings.Join(c.Warnings(), "\n")
			if strings.Contains(got, fileSecret) {
				t.Fatalf("a warning shows the secret: %s", got)
			}
			if !tc.warn {
				if got != "" {
					t.Fatalf("warnings for mode %04o: %s", tc.mode, got)
				}
				return
			}
			for _, want := range []string{"tiktok.app_secret_file", p, fmt.Sprintf("mode %04o", tc.mode), "chmod 600"} {
				if !strings.Contains(got, want) {
					t.Errorf("warning %q lacks %q", got, want)
				}
			}
		})
	}
}

func TestInsecureHTTP(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		env        env
		key        string // "" : accepted
	}{
		{"https remote", "tiktok:\n  api_base: https://203.0.113.9\n", nil, ""},
		{"http loopback v4", "tiktok:\n  api_base: http://127.0.0.1:9090\n", nil, ""},
		{"http loopback v6", "tiktok:\n  api_base: http://[::1]:9090\n", nil, ""},
		{"http localhost", "tiktok:\n  api_base: http://localhost:9090\n", nil, ""},
		{"http remote", "tiktok:\n  api_base: http://203.0.113.9\n", nil, "tiktok.api_base"},
		{"http remote name", "tiktok:\n  api_base: http://sandbox:9090\n", nil, "tiktok.api_base"},
		{"http remote from env", "", env{"TIKTOK_API_BASE": "http://203.0.113.9"}, "tiktok.api_base"},
		{"http remote allowed", "tiktok:\n  api_base: http://sandbox:9090\n  allow_insecure_http: true\n", nil, ""},
		{"token_url remote", "tiktok:\n  token_url: http://203.0.113.9/token\n", nil, "tiktok.token_url"},
		{"token_url remote allowed", "tiktok:\n  token_url: http://203.0.113.9/token\n  allow_insecure_http: true\n", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.file, tc.env)
			if tc.key == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			assertErr(t, err, tc.key, "", "tiktok.allow_insecure_http: true")
		})
	}
}

func TestHTTPListenFromEnv(t *testing.T) {
	c := mustParse(t, "http:\n  listen: 127.0.0.1:8080\n", env{"WORKER_HTTP_LISTEN": "127.0.0.1:8082"})
	if c.HTTP.Listen != "127.0.0.1:8082" {
		t.Fatalf("http.listen = %q, want the variable's 127.0.0.1:8082", c.HTTP.Listen)
	}
	_, err := parse(t, "", env{"WORKER_HTTP_LISTEN": "nonsense"})
	assertErr(t, err, "http.listen", "", "env WORKER_HTTP_LISTEN")
}
