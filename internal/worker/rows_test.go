package worker_test

import (
	"fmt"
	"time"
)

// row builds a valid offline row.
func row(id string, i int) map[string]any {
	return map[string]any{
		"timestamp":  now.Add(-time.Hour).Unix(),
		"event_id":   id,
		"email":      fmt.Sprintf("Customer.%d@Example.com ", i),
		"phone":      fmt.Sprintf("+1 (415) 555-%04d", i%10000),
		"content_id": "sku-1",
		"price":      19.99,
		"quantity":   i%3 + 1,
		"order_id":   id,
	}
}

// webRow builds a valid web row.
func webRow(id string, i int) map[string]any {
	return map[string]any{
		"timestamp":   now.Add(-time.Minute).Format(time.RFC3339),
		"event":       "ViewContent",
		"event_id":    id,
		"email":       fmt.Sprintf("visitor%d@example.org", i),
		"external_id": fmt.Sprintf("user-%d", i),
		"ip":          "203.0.113.7",
		"agent":       "Mozilla/5.0",
		"page_url":    "https://shop.example/p/1",
	}
}
