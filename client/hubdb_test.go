package client_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pxsh/pxsh/client"
	"github.com/pxsh/pxsh/internal/clustertest"
)

// TestPagedHubQueries: with small pages, hub_history, db_query and
// purge_results still see and touch every record.
func TestPagedHubQueries(t *testing.T) {
	cl := clustertest.Start(t, 2, clustertest.Options{})
	c := cl.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second*clustertest.Scale())
	defer cancel()
	for i := range 40 {
		if _, err := c.View(i%2).Apply(ctx, "lambda x: x", i); err != nil {
			t.Fatal(err)
		}
	}
	whole, err := c.HubHistory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer client.SetHubPage(3)()
	paged, err := c.HubHistory(ctx)
	if err != nil || len(whole) == 0 || !slices.Equal(paged, whole) {
		t.Fatalf("paged history: %d ids, %v; whole: %d", len(paged), err, len(whole))
	}
	rows, err := c.DBQuery(ctx, map[string]any{}, []string{"msg_id"})
	if err != nil || len(rows) != len(whole) {
		t.Fatalf("paged query: %d rows, %v; want %d", len(rows), err, len(whole))
	}
	if err := c.PurgeResults(ctx, whole[:10]); err != nil {
		t.Fatal(err)
	}
	left, err := c.HubHistory(ctx)
	if err != nil || !slices.Equal(left, whole[10:]) {
		t.Fatalf("after purging 10 in pages of 3: %d ids, %v; want %d", len(left), err, len(whole)-10)
	}
}
