// Command natsops renders, tunes, deploys and rolling-restarts NATS server
// clusters from one TOML inventory.
package main

import "os"

func main() {
	os.Exit(run(newSystem()))
}
