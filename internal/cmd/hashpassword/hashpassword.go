// Package hashpassword is `natsops hash-password`: a bcrypt hash of a
// password read from the terminal or stdin, for the inventory.
package hashpassword

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"

	"github.com/natsops/natsops/internal/cmdutil"
	"github.com/natsops/natsops/pkg/remote"
)

// Options are hash-password's flags.
type Options struct {
	*cmdutil.Factory
	Cost int
}

// NewCmd is `natsops hash-password`; runF, when set, gets the options
// instead of the run.
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "hash-password",
		Short: "Read a password on stdin and print its bcrypt hash for the inventory",
		Long: `Read a password from the terminal (not echoed) or from stdin and print a
bcrypt hash that nats-server accepts. Put the hash in the inventory instead
of the password: it is safe to commit.

The password is never taken as an argument, so it stays out of shell history.`,
		Example: `  natsops hash-password
  printf '%s' "$APP_PASSWORD" | natsops hash-password`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Cost < bcrypt.MinCost || o.Cost > bcrypt.MaxCost {
				return cmdutil.Usage("--cost must be between %d and %d", bcrypt.MinCost, bcrypt.MaxCost)
			}
			if runF != nil {
				return runF(o)
			}
			return run(o)
		},
	}
	cmd.Flags().IntVar(&o.Cost, "cost", 11, "bcrypt cost (nats-server's tooling uses 11)")
	return cmd
}

func run(o *Options) error {
	var pw []byte
	if tty := o.Terminal(); tty != nil {
		b, err := remote.ReadPassword(tty, "password: ")
		if err != nil {
			return err
		}
		pw = b
	} else {
		line, err := bufio.NewReader(o.Sys.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return cmdutil.Usage("no password on stdin")
		}
		pw = []byte(strings.TrimRight(line, "\r\n"))
	}
	if len(pw) == 0 {
		return cmdutil.Usage("empty password")
	}
	if len(pw) > 72 {
		return cmdutil.Usage("bcrypt uses at most 72 bytes of a password; this one has %d", len(pw))
	}
	h, err := bcrypt.GenerateFromPassword(pw, o.Cost)
	if err != nil {
		return err
	}
	if o.JSON() {
		o.Result(map[string]any{"hash": string(h), "cost": o.Cost})
		return nil
	}
	fmt.Fprintln(o.Sys.Stdout, string(h))
	return nil
}
