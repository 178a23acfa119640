package rollout

import "time"

// DefaultNodeTimeout is Options.NodeTimeout's default: how long a started
// node may take to be back (restart's and deploy's --timeout).
const DefaultNodeTimeout = 2 * time.Minute

// DefaultPoll is Options.Poll's default health poll interval.
const DefaultPoll = 50 * time.Millisecond
