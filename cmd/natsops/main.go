// Command natsops renders, tunes, deploys and rolling-restarts NATS server
// clusters from one TOML inventory. The commands live in internal/cmd
// (docs/ARCHITECTURE.md); this is the program's entry and its exit.
package main

import (
	"os"

	"github.com/natsops/natsops/internal/cmd/root"
	"github.com/natsops/natsops/internal/cmdutil"
)

// version and commit are set by the linker in release builds
// (-X main.version=1.2.3 -X main.commit=SHA, .goreleaser.yaml): a packaged
// binary's module build info says only "(devel)" and, built from an
// archive or with -buildvcs=false, has no commit. Empty in `go build`,
// `go run` and `go install`, which report the build info. Set once at
// link time and never written: not mutable state.
var (
	version string
	commit  string
)

func main() {
	os.Exit(root.Main(cmdutil.NewSystem(), cmdutil.Link{Version: version, Commit: commit}))
}
