package events

// Transformer turns rows into TikTok events for one destination. It keeps scratch
// buffers between calls, so it is not safe for concurrent use: use one per goroutine.
type Transformer struct {
	cfg Config
}

// NewTransformer checks cfg and returns a Transformer for it. An invalid setting is
// reported by name (event_source, window, phone_region, fixed_event_name).
func NewTransformer(cfg Config) (*Transformer, error) {
	panic("TODO(events)")
}

// Message transforms one NATS message: one JSON object (one row) or a JSON array of
// objects. res is reset first; its buffers are reused, so the caller must copy what it
// keeps past the next call (or pass a fresh Result). A message that cannot be decoded
// returns an error wrapping ErrMalformed and leaves res empty.
func (t *Transformer) Message(msg []byte, res *Result) error {
	panic("TODO(events)")
}

// DeadLetterRow returns row i of msg as a JSON object in the form a dead letter
// carries: the row's columns as received, but with email, phone and external_id
// replaced by their SHA-256 hex where they were valid (hashed values pass through, so a
// replayed row is sent as before).
func (t *Transformer) DeadLetterRow(msg []byte, i int) ([]byte, error) {
	panic("TODO(events)")
}
