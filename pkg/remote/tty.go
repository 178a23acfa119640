package remote

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/term"
)

// ErrNoTerminal means a secret was needed but there is no terminal to ask.
var ErrNoTerminal = errors.New("no terminal to ask for it")

// ReadPassword prints prompt on the terminal tty and reads a line without
// echo (for --ask-become-pass). Without a terminal it returns
// ErrNoTerminal rather than reading a secret from a pipe.
func ReadPassword(tty *os.File, prompt string) ([]byte, error) {
	fd := int(tty.Fd())
	if !term.IsTerminal(fd) {
		return nil, ErrNoTerminal
	}
	fmt.Fprint(tty, prompt)
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(tty)
	return pw, err
}

// TerminalPrompter asks for key passphrases on the terminal tty (one at a
// time, each key once per run); nil when tty is not a terminal, so Dial
// reports an encrypted key as "load it into ssh-agent".
func TerminalPrompter(tty *os.File) PassphrasePrompter {
	if !term.IsTerminal(int(tty.Fd())) {
		return nil
	}
	return NewPassphrasePrompter(func(prompt string) ([]byte, error) { return ReadPassword(tty, prompt) })
}
