// Package ui holds the dashboard's pages, styles and scripts, embedded in
// the binary. It is hand-written HTML, CSS and JavaScript: building the
// module needs no JavaScript tool chain.
package ui

import "embed"

// FS holds the files under static/: index.html (the single page shell for
// every dashboard page) and the assets it loads from /assets/.
//
//go:embed static
var FS embed.FS
