package tiktoktest_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient"
	"github.com/tiktok-events-worker/tiktok-events-worker/pkg/tiktokclient/tiktoktest"
)

// A test of your own code points the client at the stand-in, injects a fault, and
// asserts on what TikTok would have accepted.
func Example() {
	srv := tiktoktest.NewServer()
	defer srv.Close()

	client, err := tiktokclient.New(
		tiktokclient.WithBaseURL(srv.URL),
		tiktokclient.WithTokenSource(tiktokclient.StaticToken(tiktoktest.DefaultToken)),
	)
	if err != nil {
		panic(err)
	}
	srv.PoisonEvent("order-2") // TikTok refuses any request that holds it
	var evs []json.RawMessage
	for _, id := range []string{"order-1", "order-2", "order-3"} {
		evs = append(evs, json.RawMessage(`{"event":"Purchase","event_time":1763980000,"event_id":"`+id+`",`+
			`"user":{"email":"973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"}}`))
	}
	res, err := client.Send(context.Background(), tiktokclient.Request{
		EventSource: "offline", EventSourceID: tiktoktest.DefaultEventSetID, Events: evs,
	})
	if err != nil {
		panic(err)
	}
	for i, o := range res.Outcomes {
		fmt.Println(i, o.Status, o.Code)
	}
	fmt.Println("accepted by the server:", srv.AcceptedCount())
	// Output:
	// 0 accepted 0
	// 1 rejected 40002
	// 2 accepted 0
	// accepted by the server: 2
}
