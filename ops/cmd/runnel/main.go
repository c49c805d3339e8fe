// Command runnel is the runnel binary. Its commands live in package ops/cli.
package main

import (
	"os"

	"github.com/runnel-io/runnel/ops/cli"
)

func main() {
	if err := cli.Execute(); err != nil {
		// cobra has already printed the error to stderr.
		os.Exit(1)
	}
}
