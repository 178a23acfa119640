package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"

	"github.com/natsops/natsops/pkg/remote"
)

func newHashPasswordCmd(g *globals) *cobra.Command {
	var cost int
	cmd := &cobra.Command{
		Use:   "hash-password",
		Short: "Read a password on stdin and print its bcrypt hash for the inventory",
		Long: `Read a password from the terminal (not echoed) or from stdin and print a
bcrypt hash that nats-server accepts. Put the hash in the inventory instead
of the password: it is safe to commit.

The password is never taken as an argument, so it stays out of shell history.`,
		Example: `  natsops hash-password
  printf '%s' "$APP_PASSWORD" | natsops hash-password`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
				return usageError("--cost must be between %d and %d", bcrypt.MinCost, bcrypt.MaxCost)
			}
			var pw []byte
			if f, ok := g.sys.stdin.(*os.File); ok && g.sys.isTTY(f) {
				b, err := remote.ReadPassword(f, "password: ")
				if err != nil {
					return err
				}
				pw = b
			} else {
				line, err := bufio.NewReader(g.sys.stdin).ReadString('\n')
				if err != nil && line == "" {
					return usageError("no password on stdin")
				}
				pw = []byte(strings.TrimRight(line, "\r\n"))
			}
			if len(pw) == 0 {
				return usageError("empty password")
			}
			if len(pw) > 72 {
				return usageError("bcrypt uses at most 72 bytes of a password; this one has %d", len(pw))
			}
			h, err := bcrypt.GenerateFromPassword(pw, cost)
			if err != nil {
				return err
			}
			fmt.Fprintln(g.sys.stdout, string(h))
			return nil
		},
	}
	cmd.Flags().IntVar(&cost, "cost", 11, "bcrypt cost (nats-server's tooling uses 11)")
	return cmd
}
