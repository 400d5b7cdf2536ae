package tiktoktest

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/events"
)

// What an event of each source may and must carry is pkg/events' per-source table
// (events.Columns), the one the transform and docs/columns.md read: a column's Field
// is where it goes in an event ("user.email", "properties.contents[].price",
// "page.url"), its Use per source says whether the source takes it and requires it,
// Identity marks the keys of which an event needs one, and Hashed those sent as
// SHA-256. The sandbox keeps no list of its own: it turns the table once into the
// shape of an event (its objects and their keys, per-source bit masks), which both
// the fast scanner and the encoding/json reference read. A field the table does not
// name (properties.content_ids, derived from the items) is ignored, as TikTok
// ignores fields it does not know.

// The basics of every event, read by their own rules (a name, integer seconds, an
// id) whatever a source does with their columns.
const (
	keyEvent     = "event"
	keyEventTime = "event_time"
	keyEventID   = "event_id"
)

// field is one request field the table names.
type field struct {
	path   string       // as the table writes it, e.g. "user.email"
	key    string       // its key in its object
	bit    uint64       // 1 << its index in schema.fields
	hashed bool         // a SHA-256 hex digest, or an array of them
	ident  bool         // an identity key: an event needs one its source takes
	uses   []events.Use // per source, in the order of schema.sources
}

// object is one JSON object of an event: the event itself, user, properties, a
// contents item, page, lead.
type object struct {
	path    string // "" for the event itself, "properties.contents[]" for an item
	array   bool   // its parent holds an array of them (contents[])
	bit     uint16 // 1 << its index in schema.objects
	members []member
	byLen   [][]*member  // members by key length: a look-up compares one or two keys
	typ     reflect.Type // the reference's struct type for it
}

// member is one key of an object: a field, or a nested object.
type member struct {
	key   string
	field int     // index into schema.fields when child is nil
	child *object // a nested object
}

// sourceRules is what one source takes, as masks over schema.fields.
type sourceRules struct {
	name     string // events.SourceWeb, …
	word     string // as messages name it: "web", "offline", "CRM"
	web      bool   // custom event names are allowed
	dropped  uint64 // fields it does not take
	required uint64 // fields beyond the basics it needs, each a non-empty string
	identity uint64 // the identity keys it takes; an event needs one
	idNames  string // those keys, for the message: "email, phone or external_id"
}

// schema is the per-source table turned into the shape of an event.
type schema struct {
	fields  []field
	objects []*object
	root    *object
	sources []sourceRules
	basics  uint64 // event, event_time, event_id
	// indexes of the basics in fields
	event, eventTime, eventID int
	sourceList                string // "web, offline or crm", for the envelope's message
}

// fieldsOf is the schema every Server reads; it depends on nothing but the table.
var fieldsOf = newSchema(events.Columns(), events.Sources())

func newSchema(cols []events.Column, sources []string) *schema {
	s := &schema{event: -1, eventTime: -1, eventID: -1}
	s.root = s.object("")
	for _, c := range cols {
		if c.Field == "" {
			continue
		}
		parent, key := splitPath(c.Field)
		o := s.object(parent)
		if o.find(key) != nil {
			panic("tiktoktest: two columns go to " + c.Field)
		}
		if len(s.fields) == 64 {
			panic("tiktoktest: more than 64 request fields")
		}
		f := field{path: c.Field, key: key, bit: 1 << len(s.fields), hashed: c.Hashed, ident: c.Identity}
		for _, src := range sources {
			f.uses = append(f.uses, c.Use(src))
		}
		o.members = append(o.members, member{key: key, field: len(s.fields)})
		switch c.Field {
		case keyEvent:
			s.event = len(s.fields)
		case keyEventTime:
			s.eventTime = len(s.fields)
		case keyEventID:
			s.eventID = len(s.fields)
		}
		s.fields = append(s.fields, f)
	}
	if s.event < 0 || s.eventTime < 0 || s.eventID < 0 {
		panic("tiktoktest: the columns table lacks event, event_time or event_id")
	}
	s.basics = s.fields[s.event].bit | s.fields[s.eventTime].bit | s.fields[s.eventID].bit
	for i, src := range sources {
		r := sourceRules{name: src, word: src, web: src == events.SourceWeb}
		if src == events.SourceCRM {
			r.word = "CRM"
		}
		var ids []string
		for _, f := range s.fields {
			switch f.uses[i] {
			case events.Dropped:
				r.dropped |= f.bit
			case events.Required:
				if f.bit&s.basics == 0 {
					r.required |= f.bit
				}
			}
			if f.ident && f.uses[i] != events.Dropped {
				r.identity |= f.bit
				ids = append(ids, f.key)
			}
		}
		r.idNames = orList(ids)
		s.sources = append(s.sources, r)
	}
	s.sourceList = orList(sources)
	for _, o := range s.objects {
		o.index()
	}
	s.root.build()
	return s
}

// splitPath splits "user.email" into "user" and "email", "event" into "" and "event".
func splitPath(p string) (parent, key string) {
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return "", p
}

// orList writes "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// object returns the object at path, adding it (and its parents) the first time.
func (s *schema) object(path string) *object {
	for _, o := range s.objects {
		if o.path == path {
			return o
		}
	}
	if len(s.objects) == 16 {
		panic("tiktoktest: more than 16 objects in an event")
	}
	o := &object{path: path, bit: 1 << len(s.objects)}
	s.objects = append(s.objects, o)
	if path != "" {
		parent, key := splitPath(path)
		key, o.array = strings.CutSuffix(key, "[]")
		p := s.object(parent)
		if p.find(key) != nil {
			panic("tiktoktest: " + path + " is both a field and an object")
		}
		p.members = append(p.members, member{key: key, field: -1, child: o})
	}
	return o
}

// source returns the rules of an event source, or nil for one TikTok does not know.
func (s *schema) source(name string) *sourceRules {
	for i := range s.sources {
		if s.sources[i].name == name {
			return &s.sources[i]
		}
	}
	return nil
}

func (o *object) find(key string) *member {
	for i := range o.members {
		if o.members[i].key == key {
			return &o.members[i]
		}
	}
	return nil
}

func (o *object) index() {
	for i := range o.members {
		m := &o.members[i]
		for len(o.byLen) <= len(m.key) {
			o.byLen = append(o.byLen, nil)
		}
		o.byLen[len(m.key)] = append(o.byLen[len(m.key)], m)
	}
}

// lookup returns the member keyed k, or nil.
func (o *object) lookup(k []byte) *member {
	if len(k) >= len(o.byLen) {
		return nil
	}
	for _, m := range o.byLen[len(k)] {
		if m.key == string(k) {
			return m
		}
	}
	return nil
}

// build makes the reference's struct type for o: a json.RawMessage for each field
// and the nested objects' types (a slice for contents[]), tagged with their keys,
// so that encoding/json reads an event as it always has (keys matched ignoring
// case, the last repeat winning).
func (o *object) build() reflect.Type {
	sf := make([]reflect.StructField, len(o.members))
	for i, m := range o.members {
		t := reflect.TypeFor[json.RawMessage]()
		if m.child != nil {
			t = m.child.build()
			if m.child.array {
				t = reflect.SliceOf(t)
			}
		}
		sf[i] = reflect.StructField{Name: "F" + strconv.Itoa(i), Type: t, Tag: reflect.StructTag(`json:"` + m.key + `"`)}
	}
	o.typ = reflect.StructOf(sf)
	return o.typ
}

// collect appends the value of every field found in v (an o.typ) to vals, by field
// index; a field of contents[] has one value per item that carries it.
func (o *object) collect(v reflect.Value, vals [][]json.RawMessage) {
	for i, m := range o.members {
		fv := v.Field(i)
		switch {
		case m.child == nil:
			if raw := fv.Bytes(); raw != nil {
				vals[m.field] = append(vals[m.field], raw)
			}
		case m.child.array:
			for j := range fv.Len() {
				m.child.collect(fv.Index(j), vals)
			}
		default:
			m.child.collect(fv, vals)
		}
	}
}

// objectAt returns the object at a path as encoding/json names it ("user",
// "properties.contents"), or nil.
func (s *schema) objectAt(path string) *object {
	for _, o := range s.objects {
		if o.path == path || (o.array && o.path == path+"[]") {
			return o
		}
	}
	return nil
}
