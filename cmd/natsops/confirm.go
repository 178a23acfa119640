package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
)

// confirm asks before a disruptive step: --yes skips it; without a
// terminal there is nobody to ask, so natsops refuses.
func (g *globals) confirm(what string) error {
	if g.yes {
		return nil
	}
	if !g.sys.isTTY(g.sys.stdin) || !g.sys.isTTY(g.sys.stderr) {
		return withCode(ExitCancelled, errors.New(what+": no terminal to confirm on; rerun with --yes"))
	}
	fmt.Fprintf(g.sys.stderr, "%s? [y/N] ", what)
	line, _ := bufio.NewReader(g.sys.stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return withCode(ExitCancelled, errors.New("cancelled; nothing was changed"))
}
