// Package docs holds pxsh's user documentation. The Markdown files are
// embedded so that the shell's help() reads the very text of
// docs/STARLARK.md and docs/SHELL.md: help and docs cannot drift.
//
// It imports nothing.
package docs

import "embed"

// FS holds STARLARK.md and SHELL.md.
//
//go:embed STARLARK.md SHELL.md
var FS embed.FS
