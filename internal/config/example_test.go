package config_test

import (
	"fmt"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/config"
)

func ExampleParse() {
	file := []byte(`
delivery:
  max_wait: 500ms
destinations:
  - name: stores
    advertiser_id: "7654321098765432109"
    event_source: offline
    event_source_id: "7654321098765432109"
    fixed_event_name: Purchase
`)
	environment := map[string]string{
		"NATS_URL":            "nats://127.0.0.1:4222",
		"TIKTOK_ACCESS_TOKEN": "a-long-term-token",
	}
	cfg, err := config.Parse(file, func(k string) string { return environment[k] })
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := cfg.CheckRun(); err != nil { // what `worker run` needs on top
		fmt.Println(err)
		return
	}
	d := cfg.Destinations[0]
	fmt.Println("nats:", cfg.NATS.URL)
	fmt.Println("max_wait:", cfg.Delivery.MaxWait.D(), "batch_size:", cfg.Delivery.BatchSize)
	fmt.Println("max_ack_pending:", cfg.Delivery.MaxAckPending)
	fmt.Println(d.Name, d.EventSource, d.Window.D(), d.PhoneRegion)
	fmt.Println("token set:", cfg.TikTok.AccessToken != "")
	// Output:
	// nats: nats://127.0.0.1:4222
	// max_wait: 500ms batch_size: 1000
	// max_ack_pending: 11000
	// stores offline 672h0m0s US
	// token set: true
}

func ExampleParse_errors() {
	file := []byte(`
delivery:
  batch_size: 5000
destinations:
  - name: stores
    advertiser_id: "7654321098765432109"
    event_source: offline
    event_source_id: "7654321098765432109"
    windw: 24h
    window: 700h
tiktok:
  access_token: do-not-put-it-here
`)
	_, err := config.Parse(file, nil)
	fmt.Println(err)
	// Output:
	// line 3: delivery.batch_size: 5000 is out of range: want 1 to 1000 (TikTok refuses a request with more than 1000 events)
	// line 9: destinations[0] (stores): windw: unknown key (did you mean "window"?)
	// line 10: destinations[0] (stores): window: 700h is longer than TikTok's 28-day attribution window (672h)
	// line 12: tiktok.access_token: the access token is never read from the config file: put it in the environment variable named by tiktok.access_token_env (default TIKTOK_ACCESS_TOKEN) or in a file named by tiktok.access_token_file
}
