package dedup

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/broker"
)

// The first version's bucket (TIKTOK_DEDUP), as UpgradeFromBucket reads it: one KV
// marker per event, at key <destination>.<event id in unpadded base64url> ("=" for
// the empty id: KV keys allow only [-/_=.a-zA-Z0-9] and '.' separates tokens). A
// marker's value is a receipt, {"accepted_at":…,"request_id":…}, or a claim,
// {"claimed_by":…,"lease_until":…}, which only reserved the event while a replica
// sent it and never means "sent".

// legacyReceipt is the value of a receipt marker: where an accepted event went.
type legacyReceipt struct {
	AcceptedAt time.Time `json:"accepted_at"`
	RequestID  string    `json:"request_id"`
}

// isReceipt reports whether a marker's value is a receipt. Anything that is not a
// claim counts as one: when in doubt, an event was sent.
func isReceipt(data []byte) bool {
	if !bytes.Contains(data, []byte(`"claimed_by"`)) {
		return true
	}
	var claim struct {
		ClaimedBy string `json:"claimed_by"`
	}
	return json.Unmarshal(data, &claim) != nil || claim.ClaimedBy == ""
}

// parseLegacyKey splits a marker key into its destination and event id.
func parseLegacyKey(key string) (dest, id string, ok bool) {
	dest, enc, found := strings.Cut(key, ".")
	if !found || !broker.ValidDestination(dest) {
		return "", "", false
	}
	if enc == "=" {
		return dest, "", true
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return "", "", false
	}
	return dest, string(raw), true
}
