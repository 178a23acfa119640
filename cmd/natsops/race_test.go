//go:build race

package main

// raceEnabled: this test binary runs under the race detector, and so does
// the natsops binary TestDemo builds (the demo's rollout and client run in
// that process, not in this one).
const raceEnabled = true
