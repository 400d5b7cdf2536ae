package events

// col identifies one column of SPEC §3. The order is the order the columns are checked
// in, so the first error a row reports is stable.
type col uint8

const (
	colTimestamp col = iota
	colEvent
	colEventID
	colEmail
	colPhone
	colExternalID
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
	colOrderID
	colShopID
	colValue // known, never read: value is computed
	numCols
	colUnknown col = 255
)

var colNames = [numCols]string{
	colTimestamp:       "timestamp",
	colEvent:           "event",
	colEventID:         "event_id",
	colEmail:           "email",
	colPhone:           "phone",
	colExternalID:      "external_id",
	colIP:              "ip",
	colAgent:           "agent",
	colCookieID:        "cookie_id",
	colClickID:         "tiktok_click_id",
	colLocale:          "locale",
	colPageURL:         "page_url",
	colReferrerURL:     "referrer_url",
	colContentID:       "content_id",
	colContentName:     "content_name",
	colContentCategory: "content_category",
	colBrand:           "brand",
	colPrice:           "price",
	colQuantity:        "quantity",
	colContentType:     "content_type",
	colCurrency:        "currency",
	colDescription:     "description",
	colOrderID:         "order_id",
	colShopID:          "shop_id",
	colValue:           "value",
}

// webOnly reports the columns an offline destination drops.
func (c col) webOnly() bool { return c >= colExternalID && c <= colReferrerURL }

// lookupCol maps a column name to its col. Names are matched ignoring ASCII case and
// surrounding spaces, so a CSV header "Email " still finds email; a switch on
// string(b) does not allocate.
func lookupCol(name []byte) col {
	for len(name) > 0 && (name[0] == ' ' || name[0] == '\t') {
		name = name[1:]
	}
	for len(name) > 0 && (name[len(name)-1] == ' ' || name[len(name)-1] == '\t') {
		name = name[:len(name)-1]
	}
	if len(name) > 32 {
		return colUnknown
	}
	var buf [32]byte
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(name)]) {
	case "timestamp":
		return colTimestamp
	case "event":
		return colEvent
	case "event_id":
		return colEventID
	case "email":
		return colEmail
	case "phone":
		return colPhone
	case "external_id":
		return colExternalID
	case "ip":
		return colIP
	case "agent":
		return colAgent
	case "cookie_id":
		return colCookieID
	case "tiktok_click_id":
		return colClickID
	case "locale":
		return colLocale
	case "page_url":
		return colPageURL
	case "referrer_url":
		return colReferrerURL
	case "content_id":
		return colContentID
	case "content_name":
		return colContentName
	case "content_category":
		return colContentCategory
	case "brand":
		return colBrand
	case "price":
		return colPrice
	case "quantity":
		return colQuantity
	case "content_type":
		return colContentType
	case "currency":
		return colCurrency
	case "description":
		return colDescription
	case "order_id":
		return colOrderID
	case "shop_id":
		return colShopID
	case "value":
		return colValue
	}
	return colUnknown
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
