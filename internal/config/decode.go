package config

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The file is decoded by walking yaml.v3's node tree against the Config struct instead
// of with yaml.Decoder.KnownFields: that gives every error its full key path, the
// destination's name and a line number, and lets us collect all of them instead of
// stopping at the first.

// maxDepth bounds the walk (aliases can nest); Config itself is 3 levels deep.
const maxDepth = 32

// secretHints maps a key that looks like a secret to where the secret belongs instead.
// Such a key is refused wherever it appears, and its value is never read.
var secretHints = map[string]string{
	"access_token":  "the access token is never read from the config file: put it in the environment variable named by tiktok.access_token_env (default TIKTOK_ACCESS_TOKEN) or in a file named by tiktok.access_token_file",
	"token":         "the access token is never read from the config file: put it in the environment variable named by tiktok.access_token_env (default TIKTOK_ACCESS_TOKEN) or in a file named by tiktok.access_token_file",
	"app_secret":    "the app secret is never read from the config file: put it in the environment variable named by tiktok.app_secret_env (default TIKTOK_APP_SECRET) or in a file named by tiktok.app_secret_file",
	"client_secret": "the app secret is never read from the config file: put it in the environment variable named by tiktok.app_secret_env (default TIKTOK_APP_SECRET) or in a file named by tiktok.app_secret_file",
	"secret":        "secrets are never read from the config file: use the environment variable named by tiktok.app_secret_env (default TIKTOK_APP_SECRET) or tiktok.app_secret_file",
	"refresh_token": "the refresh token is never read from the config file: put it in the environment variable named by tiktok.refresh_token_env (default TIKTOK_REFRESH_TOKEN) or in a file named by tiktok.refresh_token_file",
	"password":      "passwords are never read from the config file: for NATS use a credentials file (nats.creds_file or NATS_CREDS) or an NKey seed file (nats.nkey_file or NATS_NKEY)",
}

// retiredKeys maps a key the worker no longer reads to what replaced it. Such a key
// fails at start, so that nobody believes it still does something.
var retiredKeys = map[string]string{
	"dedup.ttl": "replaced by dedup.retention: accepted events are remembered in the sent log for dedup.retention " +
		"(default 0: the largest destination window + 24h, 29 days), a few bytes each; remove dedup.ttl",
	"dedup.bucket": "no longer used: accepted events are remembered in the sent log stream <PREFIX>_SENT for dedup.retention; " +
		"remove dedup.bucket (the previous version's TIKTOK_DEDUP bucket is copied into the log once, see docs/dedup.md)",
}

const natsSecretHint = "NATS secrets are never read from the config file: use a credentials file (nats.creds_file or NATS_CREDS) or an NKey seed file (nats.nkey_file or NATS_NKEY)"

var durationType = reflect.TypeFor[Duration]()

// maxNodes bounds the nodes visited, aliases expanded: merge keys that merge
// mappings that merge … would otherwise be a "billion laughs".
const maxNodes = 100_000

type decoder struct {
	file    string
	origin  map[string]string
	errs    []error
	visited int
}

func (d *decoder) pos(n *yaml.Node) string {
	if n == nil || n.Line == 0 {
		return d.file
	}
	if d.file == "" {
		return "line " + strconv.Itoa(n.Line)
	}
	return d.file + ":" + strconv.Itoa(n.Line)
}

func (d *decoder) fail(n *yaml.Node, path, dest, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Key: path, Destination: dest, Source: d.pos(n), Msg: fmt.Sprintf(format, args...)})
}

// decodeFile parses data over cfg (which holds the defaults).
func (d *decoder) decodeFile(data []byte, cfg *Config) {
	if len(bytes.TrimSpace(data)) == 0 {
		return
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		// yaml.v3's syntax errors carry a line number and never the text of a value.
		src := d.file
		if src == "" {
			src = "config"
		}
		d.errs = append(d.errs, fmt.Errorf("%s: not valid YAML: %w", src, err))
		return
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return // only comments
	}
	d.value(root.Content[0], reflect.ValueOf(cfg).Elem(), "", "", 0)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "value"
	}
	return "node"
}

// value decodes n into v, recording errors under path (inside destination dest).
func (d *decoder) value(n *yaml.Node, v reflect.Value, path, dest string, depth int) {
	if d.tooBig(n, path, dest, depth) {
		return
	}
	for n.Kind == yaml.AliasNode {
		if n.Alias == nil || depth > maxDepth {
			d.fail(n, path, dest, "unresolved alias")
			return
		}
		n = n.Alias
		depth++
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // "key:" with nothing keeps the default; write "" to clear a string
	}
	if d.origin != nil && path != "" {
		d.origin[path] = d.pos(n)
	}
	t := v.Type()
	if t == durationType {
		dur, err := parseDuration(n)
		if err != nil {
			d.fail(n, path, dest, "%v", err)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.mapping(n, v, path, dest, depth)
	case reflect.Slice:
		d.sequence(n, v, path, depth)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, dest, "want a string, not a %s", kindName(n))
			return
		}
		// Any scalar is taken as written: an unquoted advertiser_id stays its digits.
		v.SetString(n.Value)
	case reflect.Int:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.fail(n, path, dest, "want a whole number, not %s", describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		var f float64
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") || n.Decode(&f) != nil {
			d.fail(n, path, dest, "want a number, not %s", describe(n))
			return
		}
		v.SetFloat(f)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.fail(n, path, dest, "want true or false, not %s", describe(n))
			return
		}
		v.SetBool(b)
	default:
		d.fail(n, path, dest, "cannot be set from the file")
	}
}

func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return strconv.Quote(clip(n.Value))
	}
	return "a " + kindName(n)
}

// fieldsOf maps the yaml keys of struct type t to field indexes.
func fieldsOf(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || tag == "" || tag == "-" {
			continue
		}
		m[tag] = i
	}
	return m
}

// tooBig counts a visit and reports (once) when the walk is too deep or too long.
func (d *decoder) tooBig(n *yaml.Node, path, dest string, depth int) bool {
	d.visited++
	switch {
	case d.visited == maxNodes+1:
		d.fail(n, path, dest, "the file expands to more than %d values (aliases and merge keys): simplify it", maxNodes)
		return true
	case d.visited > maxNodes:
		return true
	case depth > maxDepth:
		d.fail(n, path, dest, "nested too deeply")
		return true
	}
	return false
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path, dest string, depth int) {
	if d.tooBig(n, path, dest, depth) {
		return
	}
	if n.Kind != yaml.MappingNode {
		if path == "" {
			d.fail(n, path, dest, "the file must be a YAML mapping of sections (nats:, tiktok:, destinations: …), not a %s", kindName(n))
			return
		}
		d.fail(n, path, dest, "want a mapping of keys, not %s", describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	// Merge keys ("<<: *defaults") first, so that the mapping's own keys win.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.ShortTag() == "!!merge" {
			val := n.Content[i+1]
			if val.Kind == yaml.SequenceNode {
				for _, m := range val.Content {
					d.mapping(resolve(m), v, path, dest, depth+1)
				}
			} else {
				d.mapping(resolve(val), v, path, dest, depth+1)
			}
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			continue
		}
		key := k.Value
		kpath := join(path, key)
		if line, dup := seen[key]; dup {
			d.fail(k, kpath, dest, "set twice (first at line %d); keep one", line)
			continue
		}
		seen[key] = k.Line
		if hint, ok := secretHints[strings.ToLower(key)]; ok {
			if strings.HasPrefix(path, "nats") {
				hint = natsSecretHint
			}
			d.fail(k, kpath, dest, "%s", hint)
			continue
		}
		if hint, ok := retiredKeys[kpath]; ok {
			d.fail(k, kpath, dest, "%s", hint)
			continue
		}
		idx, ok := fields[key]
		if !ok && path == "" && strings.HasPrefix(key, "x-") {
			continue // an extension key, as in Compose files: a place for YAML anchors
		}
		if !ok {
			d.fail(k, kpath, dest, "unknown key%s", suggest(key, path, fields))
			continue
		}
		d.value(val, v.Field(idx), kpath, dest, depth+1)
	}
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < maxDepth; i++ {
		n = n.Alias
	}
	return n
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string, depth int) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "", "want a list (each item starting with \"- \"), not %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, el := range n.Content {
		el = resolve(el)
		epath := fmt.Sprintf("%s[%d]", path, i)
		d.value(el, s.Index(i), epath, nameOf(el), depth+1)
		if dst, ok := s.Index(i).Addr().Interface().(*Destination); ok {
			dst.applyDefaults()
		}
	}
	v.Set(s)
}

// nameOf finds the name: of a destination before its other keys are decoded, so that
// every error about it can carry it.
func nameOf(n *yaml.Node) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" && n.Content[i+1].Kind == yaml.ScalarNode {
			return clip(n.Content[i+1].Value)
		}
	}
	return ""
}

// suggest returns ` (did you mean "window"?)` for a misspelt key, or ` (it belongs
// under delivery: delivery.batch_size)` for a key put in the wrong section.
func suggest(key, path string, fields map[string]int) string {
	lk := strings.ToLower(key)
	best, bestDist := "", 3
	names := make([]string, 0, len(fields))
	for f := range fields {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		if dist := editDistance(lk, f); dist < bestDist && dist <= max(1, len(f)/3) {
			best, bestDist = f, dist
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	if elsewhere := whereIs(lk, reflect.TypeFor[Config](), ""); len(elsewhere) > 0 {
		for _, p := range elsewhere {
			if p != join(path, lk) {
				return fmt.Sprintf(" (did you mean %s? it belongs in another section)", p)
			}
		}
	}
	return ""
}

// whereIs lists the key paths that end in key.
func whereIs(key string, t reflect.Type, path string) []string {
	var out []string
	for name, i := range fieldsOf(t) {
		p := join(path, name)
		if name == key {
			out = append(out, p)
		}
		ft := t.Field(i).Type
		if ft.Kind() == reflect.Slice {
			ft = ft.Elem()
			p += "[]"
		}
		if ft.Kind() == reflect.Struct && ft != durationType {
			out = append(out, whereIs(key, ft, p)...)
		}
	}
	sort.Strings(out)
	return out
}

// editDistance is the optimal string alignment distance: insertions, deletions,
// substitutions and swaps of two neighbours ("ulr" → "url") cost 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// errorsOf flattens an errors.Join.
func errorsOf(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
