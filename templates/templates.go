// Package templates holds the nats-server config templates natsops renders,
// embedded in the binary. `--templates DIR` replaces them with a directory
// holding files of the same names.
package templates

import "embed"

// Main is the template every node's config starts from.
const Main = "nats-server.conf.tmpl"

// FS holds the embedded templates.
//
//go:embed *.tmpl
var FS embed.FS
