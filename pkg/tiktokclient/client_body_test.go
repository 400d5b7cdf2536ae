package tiktokclient

import (
	"encoding/json"
	"testing"
)

// The envelope must be valid JSON whatever the configured strings hold: a control
// character in a test_event_code pasted from a dashboard must not break every request.
func TestAppendBodyIsValidJSONForAnyString(t *testing.T) {
	r := Request{EventSource: "web", EventSourceID: "C\x01PIXEL", TestEventCode: "T\"1\u2028\x7f", Events: []json.RawMessage{json.RawMessage(`{"event":"Purchase"}`)}}
	body := r.AppendBody(nil)
	var got struct {
		EventSource   string            `json:"event_source"`
		EventSourceID string            `json:"event_source_id"`
		TestEventCode string            `json:"test_event_code"`
		Data          []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	if got.EventSourceID != r.EventSourceID || got.TestEventCode != r.TestEventCode || len(got.Data) != 1 {
		t.Errorf("round trip changed the envelope: %+v", got)
	}
}
