// Command wsca is a private certificate authority for client certificates with a built-in mTLS-gated
// WebSocket relay. See README.md and docs/ for the commands.
package main

import "os"

func main() {
	os.Exit(run(newEnv(), os.Args[1:]))
}
