package events

import (
	"slices"
	"strings"
)

// Use says what one event source does with a column.
type Use uint8

const (
	// Dropped: the source does not take the column; it is ignored and reported once
	// per Transformer in Result.Ignored.
	Dropped Use = iota
	// Optional: sent when present.
	Optional
	// Required: a row without it is an invalid_row.
	Required
)

func (u Use) String() string {
	switch u {
	case Optional:
		return "optional"
	case Required:
		return "required"
	}
	return "dropped"
}

// Column is one input column of SPEC §3: where it goes in the request, its rule, and
// what each event source does with it. Columns returns the table; the transform, the
// sandbox (pkg/tiktokclient/tiktoktest) and docs/columns.md all read it, so what each
// source takes is written once.
type Column struct {
	Name    string // the column name in a row (matched ignoring case and surrounding spaces)
	Field   string // where the value goes in an event of the request, e.g. "user.email"
	Rule    string // the rule, in plain words
	Example string // an example value as a row would carry it

	Web, Offline, CRM Use

	// Identity: one of the keys that identify the person; a row needs at least one
	// of those its source takes.
	Identity bool
	// Hashed: sent as SHA-256 hex (a value that already is a digest passes through).
	Hashed bool
	// Quotable: the column's values are not personal, so an error may quote a value
	// (and does so only when it looks like neither an e-mail address nor a phone
	// number). Every other column's values are never quoted anywhere.
	Quotable bool
}

// Use returns what source (SourceWeb, SourceOffline or SourceCRM) does with the column;
// Dropped for an unknown source.
func (c Column) Use(source string) Use {
	switch source {
	case SourceWeb:
		return c.Web
	case SourceOffline:
		return c.Offline
	case SourceCRM:
		return c.CRM
	}
	return Dropped
}

// Sources returns the event sources, in the order of the per-source table.
func Sources() []string { return []string{SourceWeb, SourceOffline, SourceCRM} }

// Columns returns every input column of SPEC §3, in the order rows are checked (so
// the first error a row reports is stable) and documented. The slice is a copy.
func Columns() []Column { return slices.Clone(columnTable[:]) }

// LookupColumn returns the column named name (ignoring ASCII case and surrounding
// spaces), or false for an unknown column.
func LookupColumn(name string) (Column, bool) {
	c := lookupCol([]byte(name))
	if c == colUnknown {
		return Column{}, false
	}
	return columnTable[c], true
}

// col identifies one column: an index into columnTable.
type col uint8

const (
	colTimestamp col = iota
	colEvent
	colEventID
	colEmail // colEmail … colZipCode are the hashed columns, in this order
	colPhone
	colExternalID
	colFirstName
	colLastName
	colCity
	colState
	colCountry
	colZipCode
	colLeadID
	colLeadEventSource
	colIP
	colAgent
	colCookieID
	colClickID
	colLocale
	colPageURL
	colReferrerURL
	colContentID
	colContentName
	colContentCategory
	colBrand
	colPrice
	colQuantity
	colContentType
	colCurrency
	colDescription
	colSearchString
	colLimitedDataUse
	colOrderID
	colShopID
	colValue
	numCols
	colUnknown col = 255
)

// numHashed is the number of hashed columns, colEmail through colZipCode.
const numHashed = int(colZipCode-colEmail) + 1

const (
	all     = "all"
	webCRM  = "webcrm"
	webOnly = "web"
	crmOnly = "crm"
)

// uses builds the per-source uses of a column taken by sources, required or not.
func uses(sources string, required bool) (web, offline, crm Use) {
	u := Optional
	if required {
		u = Required
	}
	switch sources {
	case all:
		return u, u, u
	case webCRM:
		return u, Dropped, u
	case webOnly:
		return u, Dropped, Dropped
	case crmOnly:
		return Dropped, Dropped, u
	}
	panic("events: unknown source set " + sources)
}

// colFlag is a property of a column in the table below.
type colFlag uint8

const (
	identity colFlag = 1 << iota
	hashed
	quotable
)

func column(name, field, rule, example, sources string, required bool, flags ...colFlag) Column {
	c := Column{Name: name, Field: field, Rule: rule, Example: example}
	c.Web, c.Offline, c.CRM = uses(sources, required)
	for _, f := range flags {
		c.Identity = c.Identity || f == identity
		c.Hashed = c.Hashed || f == hashed
		c.Quotable = c.Quotable || f == quotable
	}
	return c
}

const hashRule = "; then SHA-256 hex (64 hex characters in either case pass through, lower-cased)"

// columnTable is SPEC §3's columns table. It is the only place a column's sources,
// requirement, hashing and quotability are written.
var columnTable = [numCols]Column{
	colTimestamp: column("timestamp", "event_time",
		"ISO 8601 (with or without a zone; none means UTC), Unix seconds, or Unix milliseconds (number or numeric string; above 1e11 means milliseconds). Sent as integer Unix seconds. Older than the destination's window is outside_window; more than 10 minutes ahead is future_timestamp",
		"2025-11-24T10:26:40Z", all, true, quotable),
	colEvent: column("event", "event",
		"a TikTok event name, case-sensitive; missing means the destination's fixed_event_name, and neither is invalid. Offline and CRM events must use a standard or legacy name; web events may use custom names (at most 100 characters), but not a standard name in another case",
		"Purchase", all, false),
	colEventID: column("event_id", "event_id",
		"a string of at most 64 characters (a number is taken as its decimal text). Missing: generated from the hashed e-mail, hashed phone, event and event_time, so a re-published row gets the same id. Rows of one message that share an event_id are one event (its line items)",
		"order-1001", all, false),
	colEmail: column("email", "user.email",
		"trimmed, lower-cased, must look like an address (one @, a dot in the domain)"+hashRule+". Distinct values of one event's rows become an array",
		"Ann@Example.com", all, false, identity, hashed),
	colPhone: column("phone", "user.phone",
		"normalized to E.164 with the + (default region US, configurable), must be a possible number"+hashRule+". Distinct values of one event's rows become an array",
		"(415) 555-2671", all, false, identity, hashed),
	colExternalID: column("external_id", "user.external_id",
		"trimmed"+hashRule+". Distinct values of one event's rows become an array",
		"cust-42", webCRM, false, identity, hashed),
	colFirstName: column("first_name", "user.first_name",
		"trimmed, lower-cased, inner white space collapsed"+hashRule,
		"Ann", webCRM, false, hashed),
	colLastName: column("last_name", "user.last_name",
		"trimmed, lower-cased, inner white space collapsed"+hashRule,
		"Smith", webCRM, false, hashed),
	colCity: column("city", "user.city",
		"trimmed, lower-cased, inner white space collapsed"+hashRule,
		"San Francisco", webCRM, false, hashed),
	colState: column("state", "user.state",
		"trimmed, lower-cased; for the US and Canada a two-letter code, given as the code or the full name (New York → ny), anything else is invalid; other countries as given"+hashRule,
		"CA", webCRM, false, hashed),
	colCountry: column("country", "user.country",
		"an ISO 3166-1 country code (alpha-2, or alpha-3 turned into alpha-2), lower-cased"+hashRule,
		"US", webCRM, false, hashed),
	colZipCode: column("zip_code", "user.zip_code",
		"lower-cased, white space removed; a US ZIP+4 is cut to five digits, and a US code that is neither is invalid"+hashRule,
		"94107-1234", webCRM, false, hashed),
	colLeadID: column("lead_id", "lead.lead_id",
		"the lead's id, sent as given", "7305129398742720514", crmOnly, true),
	colLeadEventSource: column("lead_event_source", "lead.lead_event_source",
		"the CRM the lead came from, sent as given", "HubSpot", crmOnly, false),
	colIP: column("ip", "user.ip",
		"an IPv4 or IPv6 address, sent as given", "203.0.113.7", webOnly, false),
	colAgent: column("agent", "user.user_agent",
		"the browser's user agent, sent as given (not hashed)", "Mozilla/5.0 (iPhone)", webOnly, false),
	colCookieID: column("cookie_id", "user.ttp",
		"the _ttp cookie, sent as given", "2Xy…", webOnly, false),
	colClickID: column("tiktok_click_id", "user.ttclid",
		"the ttclid of the ad click, sent as given", "E.C.P.abc123", webOnly, false),
	colLocale: column("locale", "user.locale",
		"a BCP 47 language tag, sent as given", "en-US", webOnly, false),
	colPageURL: column("page_url", "page.url",
		"the absolute http(s) URL of the page", "https://shop.example/p/1", webOnly, true),
	colReferrerURL: column("referrer_url", "page.referrer",
		"the page's referrer, sent as given", "https://www.tiktok.com/", webOnly, false),
	colContentID: column("content_id", "properties.contents[].content_id",
		"the line item's product id; the items' ids, in order, are also sent as properties.content_ids",
		"sku-1", all, false),
	colContentName: column("content_name", "properties.contents[].content_name",
		"the line item's name", "Tee", all, false),
	colContentCategory: column("content_category", "properties.contents[].content_category",
		"the line item's category", "shirts", all, false),
	colBrand: column("brand", "properties.contents[].brand",
		"the line item's brand", "Acme", all, false),
	colPrice: column("price", "properties.contents[].price",
		"a decimal number ≥ 0, kept exact", "19.99", all, false, quotable),
	colQuantity: column("quantity", "properties.contents[].quantity",
		"a whole number ≥ 0", "3", all, false, quotable),
	colContentType: column("content_type", "properties.content_type",
		"product or product_group; default product when the event has contents or a value", "product", all, false, quotable),
	colCurrency: column("currency", "properties.currency",
		"an ISO 4217 code, upper-cased; default USD when the event has contents or a value; one currency per event", "usd", all, false, quotable),
	colDescription: column("description", "properties.description",
		"sent as given", "Summer order", all, false),
	colSearchString: column("search_string", "properties.search_string",
		"the query of a Search event, sent as given", "red tee", all, false),
	colLimitedDataUse: column("limited_data_use", "limited_data_use",
		"true or false: overrides the destination's limited_data_use setting for this row (a user's own opt-out)", "true", webOnly, false, quotable),
	colOrderID: column("order_id", "properties.order_id",
		"sent as given", "order-1001", all, false),
	colShopID: column("shop_id", "properties.shop_id",
		"sent as given", "store-7", all, false),
	colValue: column("value", "properties.value",
		"a decimal number ≥ 0, used when the event's items carry no price × quantity (a lead's or a subscription's value); with priced items the value is their exact sum, and an explicit value that differs is invalid",
		"59.97", all, false, quotable),
}

// colsByShape lists the columns by the length and first letter of their names;
// derived from columnTable. A look-up compares a key with the one or two names of its
// shape only, which is faster than hashing it.
var colsByShape = func() (t [maxColName + 1][26][]col) {
	for c := range numCols {
		name := columnTable[c].Name
		t[len(name)][name[0]-'a'] = append(t[len(name)][name[0]-'a'], c)
	}
	return t
}()

func (c col) name() string { return columnTable[c].Name }

// maxColName is the longest column name; longer keys are unknown without a look-up.
const maxColName = 32

// lookupCol maps a column name to its col. Names are matched ignoring ASCII case and
// surrounding spaces, so a CSV header "Email " still finds email.
func lookupCol(name []byte) col {
	for len(name) > 0 && (name[0] == ' ' || name[0] == '\t') {
		name = name[1:]
	}
	for len(name) > 0 && (name[len(name)-1] == ' ' || name[len(name)-1] == '\t') {
		name = name[:len(name)-1]
	}
	if len(name) > maxColName {
		return colUnknown
	}
	var buf [maxColName]byte
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	if len(name) == 0 || buf[0] < 'a' || buf[0] > 'z' {
		return colUnknown
	}
	for _, c := range colsByShape[len(name)][buf[0]-'a'] {
		if columnTable[c].Name == string(buf[:len(name)]) {
			return c
		}
	}
	return colUnknown
}

// sourceNames lists, for a column a source drops, the sources that take it ("web and
// crm"), for the Ignored report.
func (c col) takenBy() string {
	var s []string
	for _, src := range Sources() {
		if columnTable[c].Use(src) != Dropped {
			s = append(s, src)
		}
	}
	return strings.Join(s, " and ")
}

// Standard event names (SPEC §3), then the legacy names TikTok still accepts.
var standardEvents = []string{
	"AddPaymentInfo", "AddToCart", "AddToWishlist", "ApplicationApproval",
	"CompleteRegistration", "Contact", "CustomizeProduct", "Download", "FindLocation",
	"InitiateCheckout", "Lead", "Purchase", "Schedule", "Search", "StartTrial",
	"SubmitApplication", "Subscribe", "ViewContent",
	"CompletePayment", "PlaceAnOrder", "SubmitForm", "ClickButton",
}

// lookupEvent returns the interned standard name equal to name (exact), or, when only
// the case differs, "" and the right spelling.
func lookupEvent(name []byte) (exact, spelling string) {
	for _, s := range standardEvents {
		if len(s) != len(name) {
			continue
		}
		if string(name) == s {
			return s, ""
		}
		if equalFoldASCII(name, s) {
			spelling = s
		}
	}
	return "", spelling
}

func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
