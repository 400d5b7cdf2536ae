package dedup_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tiktok-events-worker/tiktok-events-worker/internal/dedup"
)

func states(t *testing.T, got []dedup.ClaimState, want ...dedup.ClaimState) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("claim states = %v, want %v", got, want)
	}
}

func TestClaimLifecycle(t *testing.T) {
	_, js := setup(t, time.Hour)
	// The clock starts at the server's time: markers are judged by their stored time.
	now := time.Now()
	clock := func() time.Time { return now }
	a := dedup.NewKV(js, bucket, dedup.WithClock(clock))
	b := dedup.NewKV(js, bucket, dedup.WithClock(clock))
	ctx := ctxT(t, 20*time.Second)
	lease := time.Minute

	// A fresh id is won; the same id in one call is one claim.
	got, err := a.Claim(ctx, "stores", "replica-a", []string{"e1", "e2", "e1"}, lease)
	if err != nil {
		t.Fatal(err)
	}
	states(t, got, dedup.Won, dedup.Won, dedup.Won)

	// Another owner finds them held, not sent: the event may still fail there.
	got, err = b.Claim(ctx, "stores", "replica-b", []string{"e1", "e2", "e3"}, lease)
	if err != nil {
		t.Fatal(err)
	}
	states(t, got, dedup.Held, dedup.Held, dedup.Won)

	// A claim is not a receipt: Seen and Lookup still say "not sent".
	seen, err := a.Seen(ctx, "stores", []string{"e1", "e3"})
	if err != nil || seen[0] || seen[1] {
		t.Fatalf("Seen of claimed ids = %v, %v; claims must not read as sent", seen, err)
	}
	if _, ok, err := a.Lookup(ctx, "stores", "e1"); ok || err != nil {
		t.Fatalf("Lookup of a claimed id = %v, %v", ok, err)
	}

	// The owner claiming again (a redelivery) wins again.
	got, err = a.Claim(ctx, "stores", "replica-a", []string{"e1"}, lease)
	if err != nil {
		t.Fatal(err)
	}
	states(t, got, dedup.Won)

	// Accepted: the receipt replaces the claim; everyone now sees a duplicate.
	if err := a.Mark(ctx, "stores", receipts("e1")); err != nil {
		t.Fatal(err)
	}
	got, err = b.Claim(ctx, "stores", "replica-b", []string{"e1"}, lease)
	if err != nil {
		t.Fatal(err)
	}
	states(t, got, dedup.Sent)

	// Released (the message went back to the stream): the other owner takes it now.
	if err := a.Release(ctx, "stores", "replica-a", []string{"e2", "e1", "e3"}); err != nil {
		t.Fatal(err)
	}
	got, err = b.Claim(ctx, "stores", "replica-b", []string{"e2", "e1", "e3"}, lease)
	if err != nil {
		t.Fatal(err)
	}
	// e1 stays sent (a release never touches a receipt); e3 was b's all along.
	states(t, got, dedup.Won, dedup.Sent, dedup.Won)

	// A crashed owner's claim lapses with its lease.
	if _, err := a.Claim(ctx, "stores", "replica-a", []string{"e4"}, lease); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * lease)
	got, err = b.Claim(ctx, "stores", "replica-b", []string{"e4"}, lease)
	if err != nil {
		t.Fatal(err)
	}
	states(t, got, dedup.Won)
}

// Many owners racing for the same ids: each id is won by exactly one of them.
func TestClaimRaceHasOneWinner(t *testing.T) {
	_, js := setup(t, time.Hour)
	ctx := ctxT(t, 30*time.Second)
	ids := make([]string, 300)
	for i := range ids {
		ids[i] = fmt.Sprintf("race-%d", i)
	}
	const owners = 4
	results := make([][]dedup.ClaimState, owners)
	var wg sync.WaitGroup
	for o := 0; o < owners; o++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := dedup.NewKV(js, bucket)
			got, err := st.Claim(ctx, "stores", fmt.Sprintf("owner-%d", o), ids, time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			results[o] = got
		}()
	}
	wg.Wait()
	for i := range ids {
		winners := 0
		for o := 0; o < owners; o++ {
			if results[o] != nil && results[o][i] == dedup.Won {
				winners++
			}
		}
		if winners != 1 {
			t.Fatalf("id %s won by %d owners, want exactly 1", ids[i], winners)
		}
	}
}

// A receipt older than the TTL (by the injected clock) no longer counts: the id can
// be claimed and sent again, as Seen says.
func TestClaimTakesOverAnExpiredReceipt(t *testing.T) {
	_, js := setup(t, time.Hour)
	now := time.Now()
	st := dedup.NewKV(js, bucket, dedup.WithClock(func() time.Time { return now }))
	ctx := ctxT(t, 20*time.Second)
	if err := st.Mark(ctx, "stores", receipts("old")); err != nil {
		t.Fatal(err)
	}
	got, err := st.Claim(ctx, "stores", "a", []string{"old"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	states(t, got, dedup.Sent)
	now = now.Add(2 * time.Hour)
	got, err = st.Claim(ctx, "stores", "a", []string{"old"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	states(t, got, dedup.Won)
}

// One id of a 1,000-id call already held by another owner: the 999 others are won,
// the conflict is held, and each id has exactly the marker its winner wrote.
func TestClaimWithOneConflictInAThousand(t *testing.T) {
	_, js := setup(t, time.Hour)
	ctx := ctxT(t, 30*time.Second)
	a := dedup.NewKV(js, bucket)
	b := dedup.NewKV(js, bucket)
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprint("many-", i)
	}
	const taken = 437
	if got, err := b.Claim(ctx, "stores", "replica-b", ids[taken:taken+1], time.Minute); err != nil || got[0] != dedup.Won {
		t.Fatalf("b's claim = %v, %v", got, err)
	}
	if err := b.Mark(ctx, "stores", receipts("many-999")); err != nil {
		t.Fatal(err)
	}
	got, err := a.Claim(ctx, "stores", "replica-a", ids, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range got {
		want := dedup.Won
		switch i {
		case taken:
			want = dedup.Held
		case 999:
			want = dedup.Sent
		}
		if st != want {
			t.Fatalf("id %d: %v, want %v", i, st, want)
		}
	}
	// b finds a's claims held, and its own id still its own.
	got, err = b.Claim(ctx, "stores", "replica-b", ids[taken-1:taken+2], time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	states(t, got, dedup.Held, dedup.Won, dedup.Held)
}

// Without batch gets (a stream without direct gets, as on servers before 2.11), the
// conflicting ids of a Claim are read singly, delete markers included: the states are
// the same as with batch gets.
func TestClaimFallsBackWithoutBatchGets(t *testing.T) {
	_, js := setup(t, time.Hour)
	ctx := ctxT(t, 20*time.Second)
	st := dedup.NewKV(js, bucket)
	if err := st.Mark(ctx, "stores", receipts("sent")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Claim(ctx, "stores", "other", []string{"held", "released"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := st.Release(ctx, "stores", "other", []string{"released"}); err != nil {
		t.Fatal(err)
	}
	str, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	cfg := str.CachedInfo().Config
	cfg.AllowDirect = false
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	got, err := dedup.NewKV(js, bucket).Claim(ctx, "stores", "me", []string{"sent", "held", "released", "new"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	states(t, got, dedup.Sent, dedup.Held, dedup.Won, dedup.Won)
}
