package config

import (
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// A secret is one line. An editor's final newline (\n or \r\n) is not part of it, and
// neither are spaces or tabs around it; a line break inside it is a configuration
// error, because the token would be sent as a broken header that no server can
// answer and the client would retry it as "could not be reached".

// secretValue trims raw (a secret file's content or a variable's value) and reports
// what is wrong with it, in words that never contain the secret: "" when it is good.
func secretValue(raw string) (string, string) {
	v := strings.TrimSuffix(raw, "\n")
	v = strings.TrimSuffix(v, "\r")
	v = strings.Trim(v, " \t")
	if strings.ContainsAny(v, "\r\n") {
		lines := strings.Count(strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(v), "\n") + 1
		return "", fmt.Sprintf("holds %d lines: a secret is one line (only a final newline is ignored); keep the token alone in it", lines)
	}
	return v, ""
}

// groupOrOtherReadable is the permission bits that let someone other than the owner
// read a file.
const groupOrOtherReadable fs.FileMode = 0o044

// secretFileWarning is a warning when the secret file at path can be read by its
// group or by everyone, or "". It names the key and the path, never the content.
func secretFileWarning(key, path string) string {
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm()&groupOrOtherReadable == 0 {
		return ""
	}
	return fmt.Sprintf("%s: the secret file %s can be read by its group or by everyone (mode %04o): `chmod 600 %s` so that only the worker's user reads it",
		key, path, st.Mode().Perm(), path)
}
