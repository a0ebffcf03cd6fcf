//go:build !race

// Package race tells tests whether the race detector is on: it makes
// sync.Pool drop items at random, so allocation counts are meaningless
// under it.
package race

// Enabled reports whether the race detector is on.
const Enabled = false
