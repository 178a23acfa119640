// Package fanout is natsops's one bounded fan-out: a function run over
// many items, a bounded number at once, each item's outcome kept apart.
// pkg/remote runs it over hosts (remote.Each) and pkg/fleet over
// monitoring endpoints; it knows nothing of either.
package fanout

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// Result is one item's outcome.
type Result struct {
	// Name is the item's, as the caller names it.
	Name string
	// Err is nil when fn succeeded. An item fn never ran for (ctx ended
	// first) has an error that wraps ctx's; a panic in fn is its item's
	// error, with the stack.
	Err     error
	Elapsed time.Duration
	// Started reports whether fn ran for this item.
	Started bool
}

// Each calls fn for every item, at most parallel at once; parallel <= 0
// means no bound: every item at once. Items start in their order; once
// ctx is done no further item starts ("<name>: not started: <ctx's
// error>"). A failing item does not stop the others. Each returns when
// every fn it started has returned, with the results in items' order.
func Each[T any](ctx context.Context, items []T, parallel int, name func(T) string, fn func(context.Context, T) error) []Result {
	if parallel <= 0 {
		parallel = len(items)
	}
	results := make([]Result, len(items))
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i, it := range items {
		results[i].Name = name(it)
		if err := ctx.Err(); err != nil {
			results[i].Err = fmt.Errorf("%s: not started: %w", results[i].Name, err)
			continue
		}
		acquired := false
		select {
		case sem <- struct{}{}:
			acquired = true
		case <-ctx.Done():
		}
		if err := ctx.Err(); err != nil {
			// Done while waiting for a slot (also when one freed at the
			// same moment): nothing starts once ctx is done.
			if acquired {
				<-sem
			}
			results[i].Err = fmt.Errorf("%s: not started: %w", results[i].Name, err)
			continue
		}
		results[i].Started = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			start := time.Now()
			defer func() {
				results[i].Elapsed = time.Since(start)
				if p := recover(); p != nil {
					results[i].Err = fmt.Errorf("%s: internal error: %v\n%s", results[i].Name, p, debug.Stack())
				}
			}()
			results[i].Err = fn(ctx, it)
		}()
	}
	wg.Wait()
	return results
}
