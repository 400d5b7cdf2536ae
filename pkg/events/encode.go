package events

import "strconv"

// The event object is written by hand, in one fixed key order (SPEC §4):
//
//	event, event_time, event_id,
//	user {email, phone, external_id, first_name, last_name, city, state, country,
//	      zip_code, ip, user_agent, ttp, ttclid, locale},
//	properties {contents [{content_id, content_name, content_category, brand, price,
//	            quantity}], content_ids, content_type, currency, value, description,
//	            search_string, order_id, shop_id},
//	page {url, referrer},
//	lead {lead_id, lead_event_source},
//	limited_data_use
//
// Absent fields and empty objects are omitted. A fixed order makes bodies
// byte-for-byte reproducible, which the golden tests and operators diffing previews
// rely on.

// user columns in output order, and the match key each one is.
var userCols = [...]struct {
	c   col
	key string
	bit MatchKeys
}{
	{colIP, "ip", KeyIP},
	{colAgent, "user_agent", KeyUserAgent},
	{colCookieID, "ttp", KeyTTP},
	{colClickID, "ttclid", KeyTTCLID},
	{colLocale, "locale", 0},
}

var itemCols = [...]struct {
	c   col
	key string
}{
	{colContentID, "content_id"},
	{colContentName, "content_name"},
	{colContentCategory, "content_category"},
	{colBrand, "brand"},
}

// field is one string field of a nested object: its column and key.
type field struct {
	c   col
	key string
}

var (
	pageFields = [...]field{{colPageURL, "url"}, {colReferrerURL, "referrer"}}
	leadFields = [...]field{{colLeadID, "lead_id"}, {colLeadEventSource, "lead_event_source"}}
)

// appendObject writes ,"name":{…} with the fields event e has (each from the first row
// that has it), or nothing when it has none.
func (t *Transformer) appendObject(b []byte, e int, name string, fields []field) []byte {
	sep := byte('{')
	for _, f := range fields {
		if v := t.pick(e, f.c); v != nil {
			if sep == '{' {
				b = append(b, ',', '"')
				b = append(b, name...)
				b = append(b, '"', ':')
			}
			b, sep = appendKeyString(b, sep, f.key, v), ','
		}
	}
	if sep != '{' {
		b = append(b, '}')
	}
	return b
}

// pick returns the value of column c from the first row of event e that has it: for
// event-level columns the first row wins.
func (t *Transformer) pick(e int, c col) []byte {
	for j := t.evs[e].first; j >= 0; j = t.rows[j].next {
		if t.rows[j].vals[c].present() {
			return t.val(&t.rows[j], c)
		}
	}
	return nil
}

// hashedKeys are the hashed user keys in output order: the key, its column and its
// match key. email, phone and external_id become arrays when an event's rows carry
// several distinct values; the others are event-level (the first row that has one).
var hashedKeys = [...]struct {
	c   col
	key string
	bit MatchKeys
}{
	{colEmail, "email", KeyEmail},
	{colPhone, "phone", KeyPhone},
	{colExternalID, "external_id", KeyExternalID},
	{colFirstName, "first_name", KeyFirstName},
	{colLastName, "last_name", KeyLastName},
	{colCity, "city", KeyCity},
	{colState, "state", KeyState},
	{colCountry, "country", KeyCountry},
	{colZipCode, "zip_code", KeyZipCode},
}

// appendIdentity writes "key":"hash", or "key":["h1","h2",…] when the rows of event
// e carry several distinct values of column c (one of email, phone, external_id). It
// reports whether it wrote anything.
func (t *Transformer) appendIdentity(b []byte, sep byte, e int, c col, key string) ([]byte, bool) {
	n := 0
	mark := len(b)
	for j := t.evs[e].first; j >= 0; j = t.rows[j].next {
		s := t.rows[j].hash(c)
		if !s.present() {
			continue
		}
		v := t.bytes(s)
		seen := false
		for p := t.evs[e].first; p != j; p = t.rows[p].next {
			if string(t.bytes(t.rows[p].hash(c))) == string(v) {
				seen = true
				break
			}
		}
		if seen {
			continue
		}
		if n == 0 {
			b = append(b, sep, '"')
			b = append(b, key...)
			b = append(b, `":"`...)
			mark = len(b) - 1 // where "[" goes if a second value comes
		} else {
			if n == 1 {
				b = append(b, 0)
				copy(b[mark+1:], b[mark:len(b)-1])
				b[mark] = '['
			}
			b = append(b, ',', '"')
		}
		b = append(b, v...) // hex: needs no escaping
		b = append(b, '"')
		n++
	}
	if n > 1 {
		b = append(b, ']')
	}
	return b, n > 0
}

func appendKeyString(b []byte, sep byte, key string, v []byte) []byte {
	b = append(b, sep, '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendJSONString(b, v)
}

// encode writes event e into the Result's buffer and sets its JSON and Keys.
func (t *Transformer) encode(ev *Event, e int) {
	b := t.res.buf
	start := len(b)
	b = append(b, `{"event":`...)
	b = appendJSONString(b, t.nameBytes(ev.Name))
	b = append(b, `,"event_time":`...)
	b = strconv.AppendInt(b, ev.Time, 10)
	b = append(b, `,"event_id":`...)
	b = appendJSONString(b, t.bytes(t.rows[t.evs[e].first].id))

	// user
	var keys MatchKeys
	b = append(b, `,"user":`...)
	open := len(b)
	sep := byte('{')
	var ok bool
	for _, k := range hashedKeys {
		if k.c <= colExternalID {
			b, ok = t.appendIdentity(b, sep, e, k.c, k.key)
		} else if s := t.pickHashed(e, k.c); s.present() {
			b = append(b, sep, '"')
			b = append(b, k.key...)
			b = append(b, '"', ':', '"')
			b = append(b, t.bytes(s)...) // hex: needs no escaping
			b = append(b, '"')
			ok = true
		} else {
			ok = false
		}
		if ok {
			keys |= k.bit
			sep = ','
		}
	}
	for _, u := range userCols {
		if v := t.pick(e, u.c); v != nil {
			b = appendKeyString(b, sep, u.key, v)
			keys |= u.bit
			sep = ','
		}
	}
	if sep == '{' {
		b = b[:open-len(`,"user":`)]
	} else {
		b = append(b, '}')
	}

	// properties
	b = append(b, `,"properties":`...)
	open = len(b)
	sep = '{'
	items := 0
	for j := t.evs[e].first; j >= 0; j = t.rows[j].next {
		r := &t.rows[j]
		if !r.hasItem() {
			continue
		}
		if items == 0 {
			b = append(b, sep)
			b = append(b, `"contents":[`...)
			sep = ','
		} else {
			b = append(b, ',')
		}
		isep := byte('{')
		for _, it := range itemCols {
			if r.vals[it.c].present() {
				b = appendKeyString(b, isep, it.key, t.val(r, it.c))
				isep = ','
			}
		}
		if r.vals[colPrice].present() {
			b = append(b, isep)
			b = append(b, `"price":`...)
			b = r.price.AppendJSON(b)
			isep = ','
		}
		if r.vals[colQuantity].present() {
			b = append(b, isep)
			b = append(b, `"quantity":`...)
			b = strconv.AppendInt(b, r.qty, 10)
		}
		b = append(b, '}')
		items++
	}
	if items > 0 {
		b = append(b, ']')
	}
	ids := 0
	for j := t.evs[e].first; j >= 0; j = t.rows[j].next {
		r := &t.rows[j]
		if !r.vals[colContentID].present() {
			continue
		}
		if ids == 0 {
			b = append(b, `,"content_ids":[`...)
		} else {
			b = append(b, ',')
		}
		b = appendJSONString(b, t.val(r, colContentID))
		ids++
	}
	if ids > 0 {
		b = append(b, ']')
	}
	st := &t.evs[e]
	hasValue := st.hasValue || st.explicit >= 0
	if v := t.pick(e, colContentType); v != nil {
		b, sep = appendKeyString(b, sep, "content_type", v), ','
	} else if items > 0 || hasValue {
		b, sep = append(append(b, sep), `"content_type":"product"`...), ','
	}
	if v := t.pick(e, colCurrency); v != nil {
		b, sep = appendKeyString(b, sep, "currency", v), ','
	} else if items > 0 || hasValue {
		b, sep = append(append(b, sep), `"currency":"USD"`...), ','
	}
	if hasValue {
		b = append(b, sep)
		b = append(b, `"value":`...)
		if st.hasValue {
			b = st.value.AppendJSON(b)
		} else {
			b = t.rows[st.explicit].value.AppendJSON(b)
		}
		sep = ','
	}
	for _, p := range [...]field{{colDescription, "description"}, {colSearchString, "search_string"}, {colOrderID, "order_id"}, {colShopID, "shop_id"}} {
		if v := t.pick(e, p.c); v != nil {
			b, sep = appendKeyString(b, sep, p.key, v), ','
		}
	}
	if sep == '{' {
		b = b[:open-len(`,"properties":`)]
	} else {
		b = append(b, '}')
	}

	b = t.appendObject(b, e, "page", pageFields[:])
	b = t.appendObject(b, e, "lead", leadFields[:])

	// limited_data_use: the row's column (web only) overrides the destination
	ldu := t.web && t.cfg.LimitedDataUse
	if st.ldu >= 0 {
		ldu = t.rows[st.ldu].ldu == lduTrue
	}
	if ldu {
		b = append(b, `,"limited_data_use":true`...)
	}
	b = append(b, '}')
	t.res.buf = b
	ev.JSON = b[start:len(b):len(b)]
	ev.Keys = keys
}

// pickHashed returns the hashed value of column c from the first row of event e that
// has it.
func (t *Transformer) pickHashed(e int, c col) span {
	for j := t.evs[e].first; j >= 0; j = t.rows[j].next {
		if s := t.rows[j].hash(c); s.present() {
			return s
		}
	}
	return span{}
}

// hasItem reports whether the row carries any contents column.
func (r *row) hasItem() bool {
	for c := colContentID; c <= colQuantity; c++ {
		if r.vals[c].present() {
			return true
		}
	}
	return false
}

// nameBytes returns name as bytes through a reused buffer, so encoding does not
// allocate for it.
func (t *Transformer) nameBytes(name string) []byte {
	t.keybuf = append(t.keybuf[:0], name...)
	return t.keybuf
}
