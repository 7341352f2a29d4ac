//go:build tools

// Package tools pins siegfried's version for install.sh: `go build -tags static` embeds the
// PRONOM signature file the module ships, so nothing is fetched at run time.
package tools

import _ "github.com/richardlehane/siegfried/cmd/sf"
