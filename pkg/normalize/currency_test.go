package normalize

import (
	"errors"
	"testing"
)

func TestAppendCurrency(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"USD", "USD"}, {"usd", "USD"}, {" eur ", "EUR"}, {"JPY", "JPY"}, {"chf", "CHF"},
		{"ABC", ""}, {"US", ""}, {"USDT", ""}, {"U$D", ""}, {"XXX", ""}, {"", ""},
	} {
		got, err := AppendCurrency([]byte("p:"), []byte(tc.raw))
		if tc.want == "" {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "currency" || string(got) != "p:" {
				t.Errorf("AppendCurrency(%q) = %q, %v; want a currency error", tc.raw, got, err)
			}
			continue
		}
		if err != nil || string(got) != "p:"+tc.want {
			t.Errorf("AppendCurrency(%q) = %q, %v; want p:%s", tc.raw, got, err, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = AppendCurrency(make([]byte, 0, 8), []byte("jpy")) }); n > 1 {
		t.Errorf("AppendCurrency allocates %v times", n)
	}
}
