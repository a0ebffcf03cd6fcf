// Package ui holds the dashboard's pages, styles and scripts, embedded in
// the binary. It is hand-written HTML, CSS and JavaScript (ES modules):
// building the module needs no JavaScript tool chain.
//
// static/pages.json lists the pages; the server reads it as Pages (and
// IsPage), the browser fetches it, so both work from the same list.
package ui

import "embed"

// FS holds the files under static/: index.html (the single page shell for
// every dashboard page, with the pages' templates), pages.json and the
// modules, styles and images it loads from /assets/.
//
//go:embed static
var FS embed.FS
