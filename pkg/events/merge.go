package events

import (
	"fmt"
	"slices"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/normalize"
)

// evState is an event being assembled from the rows that share its event_id: its
// valid rows as a list threaded through row.next, its running value, and its first
// bad row. An event with a bad row is sent not at all.
type evState struct {
	id          span   // the event_id's bytes
	key         string // the event_id as a string, once made (map key, then Event.ID)
	first, last int32  // valid rows; -1 while there are none
	bad         int32  // the first rejected row of the event, -1 when none
	value       normalize.Decimal
	hasValue    bool  // value holds Σ price × quantity of priced items
	explicit    int32 // the first row with a value column, -1 when none
	currency    int32 // the first row with a currency column, -1 when none
	ldu         int32 // the first row with a limited_data_use column, -1 when none
}

// groupThreshold is the number of rows up to which events are found by a linear
// scan; above it a map is used.
const groupThreshold = 16

// Finish merges the rows added since Reset that share an event_id into events and
// encodes them into the Result. An event is sent whole or not at all: when any of its
// rows is rejected (or contradicts the others), every other row of it is rejected as
// invalid_row naming that row and its field, and no event is made.
func (t *Transformer) Finish() {
	res := t.res
	t.evs = t.evs[:0]
	grouped := 0
	for i := range t.rows {
		if t.rows[i].id.present() {
			grouped++
		}
	}
	useMap := grouped > groupThreshold
	if useMap {
		if t.ids == nil {
			t.ids = make(map[string]int32, grouped)
		}
		clear(t.ids)
	}
	changed := false // rejects were added out of row order
	for i := range t.rows {
		r := &t.rows[i]
		if !r.id.present() {
			continue // a malformed row, or one rejected before its event_id was known
		}
		k := t.group(i, useMap)
		r.ev = k
		st := &t.evs[k]
		if r.status == rowRejected {
			if st.bad < 0 {
				st.bad = int32(i)
			}
			continue
		}
		if st.first < 0 {
			st.first, st.last = int32(i), int32(i)
			t.addValue(i, k)
			continue
		}
		if t.isDuplicate(i, k) {
			r.status = rowDuplicate
			res.Duplicates = append(res.Duplicates, i)
			continue
		}
		if f := t.conflict(i, k); f.reason != "" {
			t.reject(i, f.reason, f.c.name(), f.c.name()+": "+f.msg)
			changed = true
			if st.bad < 0 {
				st.bad = int32(i)
			}
			continue
		}
		t.rows[st.last].next = int32(i)
		st.last = int32(i)
		if !t.addValue(i, k) {
			t.reject(i, ReasonInvalidRow, colQuantity.name(), colQuantity.name()+": the event's total value is too large to represent exactly")
			changed = true
			if st.bad < 0 {
				st.bad = int32(i)
			}
		}
	}
	for k := range t.evs {
		st := &t.evs[k]
		if st.bad < 0 && st.first >= 0 && st.explicit >= 0 && st.hasValue {
			// an explicit value must be the items' sum
			e := &t.rows[st.explicit]
			if e.value != st.value {
				t.reject(int(st.explicit), ReasonInvalidRow, colValue.name(), fmt.Sprintf("value: %sdiffers from the sum of the items' price × quantity, %s; leave value empty or make it match",
					quoted(colValue, t.val(e, colValue)), st.value))
				st.bad = st.explicit
				changed = true
			}
		}
		if st.bad >= 0 {
			changed = t.rejectEvent(k) || changed
		}
	}
	if cap(res.rowIdx) < len(t.rows) {
		res.rowIdx = make([]int, 0, len(t.rows))
	}
	for k := range t.evs {
		st := &t.evs[k]
		if st.bad >= 0 || st.first < 0 {
			continue
		}
		r := &t.rows[st.first]
		id := st.key
		if id == "" {
			id = string(t.bytes(st.id))
		}
		res.Events = append(res.Events, Event{ID: id, Name: r.name, Time: r.time})
		ev := &res.Events[len(res.Events)-1]
		b := len(res.rowIdx)
		for j := st.first; j >= 0; j = t.rows[j].next {
			res.rowIdx = append(res.rowIdx, int(j))
		}
		ev.Rows = res.rowIdx[b:len(res.rowIdx):len(res.rowIdx)]
		t.encode(ev, k)
	}
	if changed {
		slices.SortFunc(res.Rejects, func(a, b Reject) int { return a.Row - b.Row })
	}
}

// group returns the index of row i's event in t.evs, making it on first sight.
func (t *Transformer) group(i int, useMap bool) int32 {
	id := t.bytes(t.rows[i].id)
	if useMap {
		if k, ok := t.ids[string(id)]; ok {
			return k
		}
	} else {
		for k := range t.evs {
			if string(t.bytes(t.evs[k].id)) == string(id) {
				return int32(k)
			}
		}
	}
	k := int32(len(t.evs))
	st := evState{id: t.rows[i].id, first: -1, last: -1, bad: -1, explicit: -1, currency: -1, ldu: -1}
	if useMap {
		st.key = string(id)
		t.ids[st.key] = k
	}
	t.evs = append(t.evs, st)
	return k
}

// rejectEvent rejects every valid row of event k, naming its first bad row, so that
// nothing of the event is sent. It reports whether it rejected any.
func (t *Transformer) rejectEvent(k int) bool {
	st := &t.evs[k]
	bad := &t.rows[st.bad]
	br := t.res.Rejects[bad.rej]
	msg := fmt.Sprintf("row %d of this message has the same event_id and is %s (%s); an event is sent whole or not at all, so nothing of it was sent: fix that row and replay all of the event's rows together",
		st.bad, br.Reason, br.Err)
	rejected := false
	for j := st.first; j >= 0; j = t.rows[j].next {
		if t.rows[j].status != rowOK {
			continue
		}
		t.reject(int(j), ReasonInvalidRow, br.Field, msg)
		rejected = true
	}
	return rejected
}

// addValue adds row i's price × quantity to event k's value, and notes whether it is
// the event's first row with a value, currency or limited_data_use. It reports false
// when the sum overflows.
func (t *Transformer) addValue(i int, k int32) bool {
	r := &t.rows[i]
	s := &t.evs[k]
	for _, f := range [...]struct {
		c   col
		row *int32
	}{{colValue, &s.explicit}, {colCurrency, &s.currency}, {colLimitedDataUse, &s.ldu}} {
		if *f.row < 0 && r.vals[f.c].present() {
			*f.row = int32(i)
		}
	}
	if !r.vals[colPrice].present() || !r.vals[colQuantity].present() {
		return true
	}
	line, err := r.price.MulInt(r.qty)
	if err != nil {
		return false
	}
	if !s.hasValue {
		s.value, s.hasValue = line, true
		return true
	}
	sum, err := s.value.Add(line)
	if err != nil {
		return false
	}
	s.value = sum
	return true
}

// isDuplicate reports whether row i is identical to a row already in event k.
func (t *Transformer) isDuplicate(i int, k int32) bool {
	r := &t.rows[i]
	for j := t.evs[k].first; j >= 0; j = t.rows[j].next {
		if t.sameRow(&t.rows[j], r) {
			return true
		}
	}
	return false
}

// conflict reports how row i contradicts the first row of event k: another event
// name, timestamp, currency, value or limited_data_use under the same event_id. The
// first row wins; the contradiction makes the whole event invalid, so the user sees
// it instead of having one silently folded into the other.
func (t *Transformer) conflict(i int, k int32) failure {
	r := &t.rows[i]
	first := &t.rows[t.evs[k].first]
	st := &t.evs[k]
	const same = "; the line items of one event share event, timestamp, currency, value and limited_data_use"
	switch {
	case r.name != first.name:
		return invalid(colEvent, "differs from an earlier row with the same event_id"+same)
	case r.time != first.time:
		return invalid(colTimestamp, "differs from an earlier row with the same event_id"+same)
	case r.vals[colCurrency].present() && st.currency >= 0 &&
		string(t.val(r, colCurrency)) != string(t.val(&t.rows[st.currency], colCurrency)):
		return invalid(colCurrency, quoted(colCurrency, t.val(r, colCurrency))+"differs from an earlier row with the same event_id"+same)
	case r.vals[colValue].present() && st.explicit >= 0 && r.value != t.rows[st.explicit].value:
		return invalid(colValue, quoted(colValue, t.val(r, colValue))+"differs from an earlier row with the same event_id"+same)
	case r.ldu != lduUnset && st.ldu >= 0 && r.ldu != t.rows[st.ldu].ldu:
		return invalid(colLimitedDataUse, "differs from an earlier row with the same event_id"+same)
	}
	return passed
}

// sameRow reports whether two rows carry the same value in every column.
func (t *Transformer) sameRow(a, b *row) bool {
	for c := range numCols {
		if string(t.bytes(a.vals[c])) != string(t.bytes(b.vals[c])) {
			return false
		}
	}
	return true
}
