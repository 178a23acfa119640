// Package testbed runs natsops's multi-host testbed: N Docker containers,
// each a Debian bookworm host with systemd as PID 1, OpenSSH (key auth only),
// sudo and Debian's nats-server service, on a private network with static
// addresses. It is a small helper over the docker CLI (no Docker SDK, no
// Compose): bringing the testbed up and down, generating the per-run SSH key,
// known_hosts and inventory, and injecting faults, all from the same code the
// e2e tests call.
//
// Everything it creates is named with the "natsops-testbed" prefix and carries
// the "natsops-testbed" label, so Down can find and remove it.
package testbed

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

const (
	// Prefix names every container and the network.
	Prefix = "natsops-testbed"
	// Label is set on every container and the network.
	Label = "natsops-testbed"
	// NetworkName is the private bridge network.
	NetworkName = "natsops-testbed"
	// Subnet is the network's fixed subnet; node i (1-based) is .10+i.
	Subnet  = "10.213.77.0/24"
	Gateway = "10.213.77.1"
	// MaxNodes bounds N.
	MaxNodes = 10
	// DefaultImage is the node image build.sh tags last.
	DefaultImage = "natsops-testbed-node:latest"
	// BareImage is the bare node image build.sh tags: the node image
	// without nats-server (testbed/bare/Dockerfile).
	BareImage = "natsops-testbed-bare:latest"
	// MaxBare bounds the bare nodes; bare node i (1-based) is .30+i.
	MaxBare = 5

	// RoutePort is the cluster (route) port of the testbed's inventory.
	RoutePort = 6222
	// User is the SSH user natsops uses: passwordless sudo.
	User = "ops"
	// PasswordSudoUser's sudo asks for SudoPassword.
	PasswordSudoUser = "ops2"
	SudoPassword     = "ops2-testbed-password"

	stateFile = "testbed.json"
)

// Node is one testbed host.
type Node struct {
	Name      string `json:"name"`      // n1..nN, also the hostname
	Host      string `json:"host"`      // static IP on the private network
	Container string `json:"container"` // docker container name
	// Cluster is the estate cluster the node belongs to (EstateNodes);
	// empty for the testbed's own nodes.
	Cluster string `json:"cluster,omitempty"`
}

// Testbed is a running testbed, as recorded in Dir/testbed.json.
type Testbed struct {
	Dir            string `json:"-"`
	Image          string `json:"image"`
	Network        string `json:"network"`
	Nodes          []Node `json:"nodes"`
	IdentityFile   string `json:"identity_file"`
	KnownHostsFile string `json:"known_hosts"`
	InventoryFile  string `json:"inventory"`
	// Kernel is what the nodes cannot change (they share this machine's
	// kernel and dockerd's open-files ceiling).
	Kernel Kernel `json:"kernel"`
}

// Kernel holds the limits every node inherits from the machine running the
// testbed: kernel-wide sysctls (read-only in the nodes) and the hard
// open-files limit of their PID 1 (dockerd's), which their systemd cannot
// raise.
type Kernel struct {
	FileMax string `json:"fs_file_max"`
	NrOpen  string `json:"fs_nr_open"`
	NoFile  int64  `json:"nofile"`
}

// Tune is the [tune] table of a generated inventory.
type Tune struct {
	NoFile int64
	// Sysctl are name, value pairs, written in order.
	Sysctl [][2]string
}

// Tune pins what a node cannot change, so that natsops tune has nothing to
// write there: fs.file-max and fs.nr_open at this machine's values, nofile
// at the ceiling the nodes inherit.
func (k Kernel) Tune() *Tune {
	return &Tune{NoFile: k.NoFile, Sysctl: [][2]string{{"fs.file-max", k.FileMax}, {"fs.nr_open", k.NrOpen}}}
}

// NodeIP is node i's (1-based) address.
func NodeIP(i int) string { return fmt.Sprintf("10.213.77.%d", 10+i) }

// BareIP is bare node i's (1-based) address.
func BareIP(i int) string { return fmt.Sprintf("10.213.77.%d", 30+i) }

// Docker runs the docker CLI and returns its trimmed stdout; the error
// carries stderr.
func Docker(ctx context.Context, stdin []byte, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(out.String()), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// Options for Up.
type Options struct {
	Nodes int    // 1..MaxNodes, default 3
	Image string // default DefaultImage
	Dir   string // output directory (key, known_hosts, inventory, state)
	Log   func(format string, args ...any)
}

// Up removes any previous testbed, then starts opts.Nodes nodes and waits
// until every node accepts SSH (verified against the generated known_hosts)
// and answers /healthz with 200.
func Up(ctx context.Context, opts Options) (*Testbed, error) {
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Nodes < 1 || opts.Nodes > MaxNodes {
		return nil, fmt.Errorf("testbed: %d nodes requested, want 1..%d", opts.Nodes, MaxNodes)
	}
	if opts.Image == "" {
		opts.Image = DefaultImage
	}
	if opts.Log == nil {
		opts.Log = func(string, ...any) {}
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := Down(ctx); err != nil {
		return nil, err
	}
	if err := DownEstate(ctx, dir); err != nil { // its state file
		return nil, err
	}
	if _, err := Docker(ctx, nil, "image", "inspect", "-f", "{{.Id}}", opts.Image); err != nil {
		return nil, fmt.Errorf("testbed: node image %s missing, build it with testbed/build.sh: %w", opts.Image, err)
	}
	tb := &Testbed{
		Dir:            dir,
		Image:          opts.Image,
		Network:        NetworkName,
		IdentityFile:   filepath.Join(dir, "id_ed25519"),
		KnownHostsFile: filepath.Join(dir, "known_hosts"),
		InventoryFile:  filepath.Join(dir, "inventory.toml"),
	}
	for i := 1; i <= opts.Nodes; i++ {
		name := fmt.Sprintf("n%d", i)
		tb.Nodes = append(tb.Nodes, Node{Name: name, Host: NodeIP(i), Container: Prefix + "-" + name})
	}
	pub, err := writeKeyPair(tb.IdentityFile)
	if err != nil {
		return nil, err
	}
	opts.Log("network %s %s", NetworkName, Subnet)
	// --internal: no route out of the network; the host still reaches the
	// nodes through the bridge.
	if _, err := Docker(ctx, nil, "network", "create", "--driver", "bridge", "--internal",
		"--subnet", Subnet, "--gateway", Gateway, "--label", Label+"=network", NetworkName); err != nil {
		return nil, err
	}
	hostKeys, err := startNodes(ctx, tb.Nodes, opts.Image, "node", pub, opts.Log)
	if err != nil {
		return nil, err
	}
	if tb.Kernel, err = readKernel(ctx, tb.Nodes[0]); err != nil {
		return nil, err
	}
	if err := os.WriteFile(tb.KnownHostsFile, []byte(strings.Join(hostKeys, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(tb.InventoryFile, []byte(Inventory(tb.Nodes, "id_ed25519", "known_hosts", "testbed/testbed.go", tb.Kernel.Tune())), 0o644); err != nil {
		return nil, err
	}
	state, _ := json.MarshalIndent(tb, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, stateFile), append(state, '\n'), 0o644); err != nil {
		return nil, err
	}
	err = forEach(tb.Nodes, func(_ int, n Node) error {
		if err := tb.WaitSSH(ctx, n.Name, 90*time.Second); err != nil {
			return err
		}
		if err := tb.WaitHealthz(ctx, n.Name, 60*time.Second); err != nil {
			return err
		}
		opts.Log("%s: %s ssh ok, healthz ok", n.Name, n.Host)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tb, nil
}

// startNodes starts a container per node from image (role labels it:
// "node" or "bare"), authorizes the run's key for both users and returns
// each node's known_hosts line, read from the host key it made at first
// boot.
func startNodes(ctx context.Context, nodes []Node, image, role string, pub []byte, log func(string, ...any)) ([]string, error) {
	runArgs := systemdArgs()
	hostKeys := make([]string, len(nodes))
	err := forEach(nodes, func(i int, n Node) error {
		args := []string{"run", "-d", "--name", n.Container, "--hostname", n.Name,
			"--label", Label + "=" + role, "--label", Label + ".node=" + n.Name,
			"--network", NetworkName, "--ip", n.Host}
		args = append(args, runArgs...)
		args = append(args, image)
		if _, err := Docker(ctx, nil, args...); err != nil {
			return err
		}
		log("%s: container started", n.Name)
		// Authorize the run's key for both users.
		script := `set -e; for u in ` + User + ` ` + PasswordSudoUser + `; do
  install -d -m 0700 -o $u -g $u /home/$u/.ssh
  install -m 0600 -o $u -g $u /dev/stdin /home/$u/.ssh/authorized_keys < /tmp/natsops-testbed.pub
done; rm -f /tmp/natsops-testbed.pub`
		if _, err := Docker(ctx, pub, "exec", "-i", n.Container, "sh", "-c", "cat > /tmp/natsops-testbed.pub && "+script); err != nil {
			return err
		}
		// The node generates its host key at first boot; read the real one.
		// Poll until it parses: the file may exist but still be empty.
		var pk ssh.PublicKey
		_, err := pollString(ctx, 60*time.Second, func() (string, error) {
			key, err := Docker(ctx, nil, "exec", n.Container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
			if err != nil {
				return "", err
			}
			pk, _, _, _, err = ssh.ParseAuthorizedKey([]byte(key))
			return "", err
		})
		if err != nil {
			return fmt.Errorf("%s: no SSH host key: %w", n.Name, err)
		}
		hostKeys[i] = knownhosts.Line([]string{n.Host}, pk)
		return nil
	})
	return hostKeys, err
}

// readKernel reads the limits the nodes inherit: the kernel-wide sysctls
// from this machine (the nodes' kernel), the open-files ceiling from a
// node's PID 1.
func readKernel(ctx context.Context, n Node) (Kernel, error) {
	var k Kernel
	for _, p := range []struct {
		name string
		v    *string
	}{{"fs/file-max", &k.FileMax}, {"fs/nr_open", &k.NrOpen}} {
		b, err := os.ReadFile("/proc/sys/" + p.name)
		if err != nil {
			return k, err
		}
		*p.v = strings.Join(strings.Fields(string(b)), " ")
	}
	out, err := Docker(ctx, nil, "exec", n.Container, "awk", "/^Max open files/ {print $5}", "/proc/1/limits")
	if err != nil {
		return k, err
	}
	if k.NoFile, err = strconv.ParseInt(strings.TrimSpace(out), 10, 64); err != nil {
		return k, fmt.Errorf("%s: open-files ceiling %q: %w", n.Name, out, err)
	}
	return k, nil
}

// UpBare starts n bare nodes (b1..bn, BareIP, from BareImage: no
// nats-server, no nats user; apt installs from the image's local
// repository) beside the running testbed, on its network and with its key,
// removing bare nodes a previous run left. It waits until each accepts SSH
// and systemd has finished booting, and writes bare_known_hosts and
// bare-inventory.toml (the testbed inventory's settings) into tb.Dir. The
// Testbed it returns has only the bare nodes; DownBare removes them.
func (tb *Testbed) UpBare(ctx context.Context, n int, log func(string, ...any)) (*Testbed, error) {
	if n < 1 || n > MaxBare {
		return nil, fmt.Errorf("testbed: %d bare nodes requested, want 1..%d", n, MaxBare)
	}
	if log == nil {
		log = func(string, ...any) {}
	}
	if err := DownBare(ctx); err != nil {
		return nil, err
	}
	if _, err := Docker(ctx, nil, "image", "inspect", "-f", "{{.Id}}", BareImage); err != nil {
		return nil, fmt.Errorf("testbed: bare image %s missing, build it with testbed/build.sh: %w", BareImage, err)
	}
	pub, err := os.ReadFile(tb.IdentityFile + ".pub")
	if err != nil {
		return nil, err
	}
	bare := &Testbed{
		Dir: tb.Dir, Image: BareImage, Network: tb.Network, IdentityFile: tb.IdentityFile, Kernel: tb.Kernel,
		KnownHostsFile: filepath.Join(tb.Dir, "bare_known_hosts"),
		InventoryFile:  filepath.Join(tb.Dir, "bare-inventory.toml"),
	}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("b%d", i)
		bare.Nodes = append(bare.Nodes, Node{Name: name, Host: BareIP(i), Container: Prefix + "-" + name})
	}
	hostKeys, err := startNodes(ctx, bare.Nodes, BareImage, "bare", pub, log)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(bare.KnownHostsFile, []byte(strings.Join(hostKeys, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(bare.InventoryFile, []byte(Inventory(bare.Nodes, "id_ed25519", "bare_known_hosts", "testbed/testbed.go (UpBare)", bare.Kernel.Tune())), 0o644); err != nil {
		return nil, err
	}
	err = forEach(bare.Nodes, func(_ int, nd Node) error {
		if err := bare.WaitSSH(ctx, nd.Name, 90*time.Second); err != nil {
			return err
		}
		// apt's maintainer scripts start and enable units: wait for boot.
		if _, err := Docker(ctx, nil, "exec", nd.Container, "timeout", "60", "systemctl", "is-system-running", "--wait"); err != nil {
			return fmt.Errorf("%s: systemd did not finish booting: %w", nd.Name, err)
		}
		log("%s: %s ssh ok (bare)", nd.Name, nd.Host)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return bare, nil
}

// DownBare removes the bare nodes (Down removes them too).
func DownBare(ctx context.Context) error {
	ids, err := Docker(ctx, nil, "ps", "-aq", "--filter", "label="+Label+"=bare")
	if err != nil || ids == "" {
		return err
	}
	_, err = Docker(ctx, nil, append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)...)
	return err
}

// systemdArgs are the docker run flags systemd needs as PID 1: no
// --privileged on cgroup v1 (this project's CI): CAP_SYS_ADMIN for systemd's
// mounts, tmpfs /run, and /sys/fs/cgroup bind-mounted read-only. On cgroup
// v2 (untested here) a private cgroup namespace and --privileged.
func systemdArgs() []string {
	args := []string{
		"--cap-add", "SYS_ADMIN",
		"--security-opt", "apparmor=unconfined",
		"--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
		"--stop-signal", "SIGRTMIN+3", "--stop-timeout", "20",
		"-e", "container=docker",
		// /proc/sys writable, so per-network-namespace parameters
		// (net.core.somaxconn, net.ipv4.*) can be tuned per node as on a
		// real host. The node's init (natsops-testbed-init) makes the rest
		// of /proc/sys, which is this machine's kernel, read-only again
		// before systemd starts.
		"--security-opt", "systempaths=unconfined",
	}
	// The nodes inherit dockerd's nofile limit as their hard ceiling (20000
	// on this project's CI), and their systemd cannot raise it (no
	// CAP_SYS_RESOURCE). TESTBED_NOFILE=N asks docker for N:N where the
	// engine allows it (here runc fails with "error setting rlimit type 7:
	// operation not permitted" above dockerd's own limit).
	if nf := os.Getenv("TESTBED_NOFILE"); nf != "" {
		args = append(args, "--ulimit", "nofile="+nf+":"+nf)
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		// Not exercised on this project's CI (cgroup v1): docker gives a
		// private cgroup namespace read-only unless privileged.
		args = append(args, "--cgroupns", "private", "--privileged")
	} else {
		args = append(args, "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro")
	}
	if extra := os.Getenv("TESTBED_DOCKER_ARGS"); extra != "" {
		args = append(args, strings.Fields(extra)...)
	}
	return args
}

// Down removes every container, network and volume labelled natsops-testbed.
// It is idempotent.
func Down(ctx context.Context) error {
	var errs []error
	ids, err := Docker(ctx, nil, "ps", "-aq", "--filter", "label="+Label)
	if err != nil {
		errs = append(errs, err)
	}
	if ids != "" {
		// Unpause first: a paused container cannot be removed on every engine.
		for _, id := range strings.Fields(ids) {
			Docker(ctx, nil, "unpause", id) //nolint:errcheck // most are not paused
		}
		if _, err := Docker(ctx, nil, append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)...); err != nil {
			errs = append(errs, err)
		}
	}
	nets, err := Docker(ctx, nil, "network", "ls", "-q", "--filter", "label="+Label)
	if err != nil {
		errs = append(errs, err)
	}
	if nets != "" {
		if _, err := Docker(ctx, nil, append([]string{"network", "rm"}, strings.Fields(nets)...)...); err != nil {
			errs = append(errs, err)
		}
	}
	vols, err := Docker(ctx, nil, "volume", "ls", "-q", "--filter", "label="+Label)
	if err != nil {
		errs = append(errs, err)
	}
	if vols != "" {
		if _, err := Docker(ctx, nil, append([]string{"volume", "rm", "-f"}, strings.Fields(vols)...)...); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Load reads the state Up wrote into dir.
func Load(dir string) (*Testbed, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("testbed: no testbed state in %s (run `make testbed-up`): %w", dir, err)
	}
	tb := &Testbed{Dir: dir}
	if err := json.Unmarshal(b, tb); err != nil {
		return nil, fmt.Errorf("testbed: %s: %w", filepath.Join(dir, stateFile), err)
	}
	return tb, nil
}

// Node returns the node called name.
func (tb *Testbed) Node(name string) (Node, error) {
	for _, n := range tb.Nodes {
		if n.Name == name {
			return n, nil
		}
	}
	return Node{}, fmt.Errorf("testbed: no node %q", name)
}

// Exec runs a shell command as root on the node through docker exec (not
// SSH): the back door faults and tests use to set up state.
func (tb *Testbed) Exec(ctx context.Context, node, script string) (string, error) {
	n, err := tb.Node(node)
	if err != nil {
		return "", err
	}
	return Docker(ctx, nil, "exec", n.Container, "sh", "-c", script)
}

// Signer returns the run's SSH private key.
func (tb *Testbed) Signer() (ssh.Signer, error) {
	b, err := os.ReadFile(tb.IdentityFile)
	if err != nil {
		return nil, err
	}
	return ssh.ParsePrivateKey(b)
}

// ClientConfig is an SSH client config for user with the run's key and
// host-key verification against the generated known_hosts.
func (tb *Testbed) ClientConfig(user string) (*ssh.ClientConfig, error) {
	signer, err := tb.Signer()
	if err != nil {
		return nil, err
	}
	hkcb, err := knownhosts.New(tb.KnownHostsFile)
	if err != nil {
		return nil, err
	}
	return &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hkcb,
		Timeout:         5 * time.Second,
	}, nil
}

// Dial opens an SSH connection to node as user.
func (tb *Testbed) Dial(ctx context.Context, node, user string) (*ssh.Client, error) {
	n, err := tb.Node(node)
	if err != nil {
		return nil, err
	}
	cfg, err := tb.ClientConfig(user)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(n.Host, "22")
	d := net.Dialer{Timeout: cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl) //nolint:errcheck
	} else {
		conn.SetDeadline(time.Now().Add(cfg.Timeout)) //nolint:errcheck
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{}) //nolint:errcheck
	return ssh.NewClient(c, chans, reqs), nil
}

// Run runs cmd over SSH on node as user and returns combined output.
func (tb *Testbed) Run(ctx context.Context, node, user, cmd string) (string, error) {
	return tb.RunInput(ctx, node, user, cmd, nil)
}

// RunInput is Run with stdin.
func (tb *Testbed) RunInput(ctx context.Context, node, user, cmd string, stdin []byte) (string, error) {
	c, err := tb.Dial(ctx, node, user)
	if err != nil {
		return "", err
	}
	defer c.Close()
	defer context.AfterFunc(ctx, func() { c.Close() })()
	s, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	if stdin != nil {
		s.Stdin = bytes.NewReader(stdin)
	}
	out, err := s.CombinedOutput(cmd)
	return string(out), err
}

// WaitSSH polls until node accepts an SSH session as User.
func (tb *Testbed) WaitSSH(ctx context.Context, node string, timeout time.Duration) error {
	_, err := pollString(ctx, timeout, func() (string, error) {
		return tb.Run(ctx, node, User, "true")
	})
	if err != nil {
		return fmt.Errorf("%s: ssh not ready after %s: %w", node, timeout, err)
	}
	return nil
}

// HTTPGet GETs http://NODE:8222/path with a short timeout and returns the
// status code and body.
func (tb *Testbed) HTTPGet(ctx context.Context, node, path string) (int, []byte, error) {
	n, err := tb.Node(node)
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+net.JoinHostPort(n.Host, "8222")+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes(), err
}

// WaitHealthz polls until node's /healthz answers 200.
func (tb *Testbed) WaitHealthz(ctx context.Context, node string, timeout time.Duration) error {
	_, err := pollString(ctx, timeout, func() (string, error) {
		code, body, err := tb.HTTPGet(ctx, node, "/healthz")
		if err != nil {
			return "", err
		}
		if code != 200 {
			return "", fmt.Errorf("/healthz %d: %s", code, bytes.TrimSpace(body))
		}
		return "", nil
	})
	if err != nil {
		return fmt.Errorf("%s: /healthz not 200 after %s: %w", node, timeout, err)
	}
	return nil
}

// Poll calls f every interval (starting at 100 ms, doubling up to 1 s) until
// it succeeds, ctx ends or timeout passes; it returns f's last error.
func Poll(ctx context.Context, timeout time.Duration, f func() error) error {
	_, err := pollString(ctx, timeout, func() (string, error) { return "", f() })
	return err
}

func pollString(ctx context.Context, timeout time.Duration, f func() (string, error)) (string, error) {
	deadline := time.Now().Add(timeout)
	wait := 100 * time.Millisecond
	for {
		s, err := f()
		if err == nil {
			return s, nil
		}
		if time.Now().Add(wait).After(deadline) {
			return "", err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		if wait < time.Second {
			wait *= 2
		}
	}
}

func forEach(nodes []Node, f func(int, Node) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(i, n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// writeKeyPair writes a fresh ed25519 key (OpenSSH format) and its .pub, and
// returns the authorized_keys line.
func writeKeyPair(path string) ([]byte, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "natsops-testbed")
	if err != nil {
		return nil, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	line := bytes.TrimSpace(ssh.MarshalAuthorizedKey(sshPub))
	line = append(line, []byte(" natsops-testbed\n")...)
	os.Remove(path)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path+".pub", line, 0o644); err != nil {
		return nil, err
	}
	return line, nil
}

// Inventory renders a natsops inventory for nodes; identity and knownHosts
// are written as given (relative paths resolve against the inventory file's
// directory). tune, when not nil, becomes its [tune] table (Kernel.Tune:
// what the nodes cannot change, pinned).
func Inventory(nodes []Node, identity, knownHosts, generator string, tune *Tune) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# generated by %s — do not edit\n", generator)
	fmt.Fprintf(&b, `[cluster]
name = "testbed"
port = %d

[ssh]
user = %q
port = 22
identity_file = %q
known_hosts = %q
host_key_checking = "strict"

[service]
manager = "systemd"
unit = "nats-server"
config_path = "/etc/nats-server.conf"
binary = "/usr/sbin/nats-server"
user = "nats"

[server]
port = 4222
http_port = 8222

[jetstream]
enabled = true
store_dir = "/var/lib/nats/jetstream"
`, RoutePort, User, identity, knownHosts)
	if tune != nil {
		b.WriteString(`
# The nodes are containers on the testbed machine's kernel: kernel-wide
# sysctls are read-only in them and pinned here to that machine's values,
# and nofile to the open-files ceiling they inherit from dockerd (their
# systemd cannot raise it), so that natsops tune has nothing impossible to do.
[tune]
`)
		fmt.Fprintf(&b, "nofile = %d\n", tune.NoFile)
		if len(tune.Sysctl) > 0 {
			b.WriteString("\n[tune.sysctl]\n")
			for _, kv := range tune.Sysctl {
				fmt.Fprintf(&b, "%q = %q\n", kv[0], kv[1])
			}
		}
	}
	for _, n := range nodes {
		fmt.Fprintf(&b, "\n[[node]]\nname = %q\nhost = %q\n", n.Name, n.Host)
	}
	return b.String()
}
