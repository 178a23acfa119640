package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/natsops/natsops/pkg/remote"
	"github.com/natsops/natsops/pkg/rollout"
	"github.com/natsops/natsops/pkg/service"
)

// action is one node's deploy inside a rollout: install the config
// (validated by the node's own nats-server -t) and the drop-in, and put
// back what it replaced.
type action struct {
	plan *NodePlan
	// restorable: the config's backup is what the server ran before this
	// deploy (this deploy wrote the file, or it was installed but not
	// loaded); unitsWritten: the drop-ins installed so far.
	restorable   bool
	unitsWritten []*UnitChange
}

func (a *action) Kind() rollout.Kind { return a.plan.How }

// Digest is the digest the server reports once it runs the new config.
func (a *action) Digest() string { return a.plan.Digest.Desired }

// Upgrade reports a binary change (another nats-server version than the
// running one): the rollout bounds that node's first start by its
// StartTimeout.
func (a *action) Upgrade() bool { return a.plan.Binary.Upgrade() }

// TargetVersion is the nats-server version service.binary starts when it
// is not the running one (an upgrade or a downgrade), else "": the
// rollout judges the change before it stops the node.
func (a *action) TargetVersion() string {
	if a.plan.Binary.Upgrade() {
		return a.plan.Binary.Installed
	}
	return ""
}

// leaving is a node marked remove = true: no files to install, and its
// peer removal once it is stopped.
type leaving struct {
	*action
	leaver leaver
}

func (l *leaving) Check(context.Context, remote.Host) error   { return nil }
func (l *leaving) Install(context.Context, remote.Host) error { return nil }
func (l *leaving) Restore(context.Context, remote.Host) error { return nil }

// Leave removes the stopped node from the JetStream meta group (when the
// inventory names a system account user; without one the plan refused,
// or --force left it to the operator).
func (l *leaving) Leave(ctx context.Context) error {
	switch {
	case !l.plan.desired.Node.JetStreamEnabled():
		return nil
	case l.leaver == nil:
		return fmt.Errorf("the inventory names no system account user: run `nats server raft peer-remove %s` with a system account context, then natsops status", l.plan.Node)
	}
	return l.leaver.leave(ctx, l.plan.Node)
}

const absent = "absent"

func digest(fs FileState) string {
	if !fs.Exists {
		return absent
	}
	sum := sha256.Sum256(fs.Data)
	return hex.EncodeToString(sum[:])
}

// Check compares the node's files with what the plan read: a deploy that
// ran in between (or a hand edit) makes this plan stale.
func (a *action) Check(ctx context.Context, h remote.Host) error {
	p := a.plan
	paths := []string{p.Path}
	want := []string{digest(p.observed.Config)}
	for _, u := range p.desired.Units {
		paths = append(paths, u.Path)
		want = append(want, digest(p.observed.Units[u.Path]))
	}
	var b strings.Builder
	for _, path := range paths {
		fmt.Fprintf(&b, "if [ -e %[1]s ]; then sha256sum < %[1]s | cut -d' ' -f1; else echo %[2]s; fi\n", remote.Quote(path), absent)
	}
	res, err := h.Run(ctx, b.String(), remote.RunOptions{Sudo: true})
	if err != nil {
		return err
	}
	if err := res.Err(h, "read "+strings.Join(paths, ", ")); err != nil {
		return err
	}
	got := strings.Fields(string(res.Stdout))
	for i, path := range paths {
		if i >= len(got) || got[i] != want[i] {
			return fmt.Errorf("%s: %s changed since natsops read it (another deploy, or an edit on the node)", p.Node, path)
		}
	}
	return nil
}

// Install writes the config, then the drop-ins that differ (and reloads
// systemd's units once); a drop-in that fails puts the config back, so an
// error leaves the node as it was.
func (a *action) Install(ctx context.Context, h remote.Host) error {
	p := a.plan
	n := p.desired.Node
	owner := ""
	if n.Connection == "ssh" {
		owner = "root:" + n.Service.User
	}
	f := remote.File{Path: p.Path, Data: p.desired.Config, Mode: 0o640, Owner: owner,
		Validate: remote.Command(n.Service.Binary, "-t", "-c") + " {} >/dev/null"}
	wrote, err := remote.Install(ctx, h, f, true)
	if err != nil {
		return err
	}
	// The backup is this deploy's previous config only if it wrote the
	// file (or, pending, the one the server was running).
	a.restorable = wrote || p.Pending
	if !wrote && p.Binary.Upgrade() {
		// Install validates only a file it replaces: the config as it
		// stands must pass the new binary's -t before that binary starts.
		res, err := h.Run(ctx, remote.Command(n.Service.Binary, "-t", "-c", p.Path)+" >/dev/null", remote.RunOptions{Sudo: true})
		if err != nil {
			return err
		}
		if err := res.Err(h, "validate "+p.Path+" with "+n.Service.Binary); err != nil {
			return err
		}
	}
	if len(p.Units) > 0 {
		err := a.installUnits(ctx, h)
		if err == nil {
			return nil
		}
		if !a.restorable {
			return err
		}
		if rerr := a.restoreConfig(ctx, h); rerr != nil {
			return fmt.Errorf("%w; putting the previous config back failed too: %v", err, rerr)
		}
		return fmt.Errorf("%w (the previous config was put back)", err)
	}
	return nil
}

func (a *action) installUnits(ctx context.Context, h remote.Host) error {
	var err error
	for _, u := range a.plan.Units {
		if _, err = remote.Install(ctx, h, remote.File{Path: u.Path, Data: u.data, Mode: 0o644}, true); err != nil {
			break
		}
		a.unitsWritten = append(a.unitsWritten, u)
	}
	if err == nil {
		err = daemonReload(ctx, h)
	}
	if err != nil && len(a.unitsWritten) > 0 {
		// A drop-in is in place but the rest, or systemd, did not take:
		// take them away again.
		if rerr := a.restoreUnit(ctx, h); rerr != nil {
			return fmt.Errorf("%w; removing the new drop-ins failed too: %v", err, rerr)
		}
	}
	return err
}

// Restore puts back the config this deploy replaced and the previous
// drop-in (or removes a new one).
func (a *action) Restore(ctx context.Context, h remote.Host) error {
	if err := a.restoreConfig(ctx, h); err != nil {
		return err
	}
	return a.restoreUnit(ctx, h)
}

// restoreConfig puts back the config this deploy replaced: its backup, or
// no file at all when there was none (a first deploy).
func (a *action) restoreConfig(ctx context.Context, h remote.Host) error {
	if !a.restorable {
		return nil
	}
	p := a.plan
	if p.observed.Config.Exists {
		if err := remote.RestoreBackup(ctx, h, p.Path, true); err != nil {
			return err
		}
	} else if err := remove(ctx, h, p.Path); err != nil {
		return err
	}
	a.restorable = false
	return nil
}

func remove(ctx context.Context, h remote.Host, path string) error {
	res, err := h.Run(ctx, remote.Command("rm", "-f", path), remote.RunOptions{Sudo: true})
	if err != nil {
		return err
	}
	return res.Err(h, "remove "+path)
}

func (a *action) restoreUnit(ctx context.Context, h remote.Host) error {
	if len(a.unitsWritten) == 0 {
		return nil
	}
	for len(a.unitsWritten) > 0 {
		u := a.unitsWritten[len(a.unitsWritten)-1]
		if u.existed {
			if err := remote.RestoreBackup(ctx, h, u.Path, true); err != nil {
				return err
			}
		} else if err := remove(ctx, h, u.Path); err != nil {
			return err
		}
		a.unitsWritten = a.unitsWritten[:len(a.unitsWritten)-1]
	}
	return daemonReload(ctx, h)
}

func daemonReload(ctx context.Context, h remote.Host) error {
	res, err := h.Run(ctx, service.DaemonReload, remote.RunOptions{Sudo: true})
	if err != nil {
		return err
	}
	return res.Err(h, service.DaemonReload)
}
