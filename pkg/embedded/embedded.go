// Package embedded runs one nats-server node from the nats-server module
// compiled into natsops, the way the nats-server binary's main() does: the
// same flags (server.ConfigureOptions: -c FILE, -t, --signal
// reload|ldm|quit|stop=PIDFILE, ...), config file, pid file and signals
// (HUP reload, USR1 reopen log, USR2 lame duck, INT/TERM stop).
//
// It exists so `natsops demo` (and anyone without a nats-server install)
// can run real nodes as separate processes from the natsops binary alone.
// It owns nothing but that entry point: rendering configs and managing the
// processes belong to pkg/config and pkg/rollout.
//
// As in nats-server itself, some paths end the process from inside the
// module (a successful --signal, SIGINT/SIGTERM): Main is only for a
// process whose whole job is to be that server.
package embedded

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/nats-io/nats-server/v2/server"
)

// Name is how the server calls itself in messages (nats-server's main uses
// its executable name).
const Name = "nats-server"

// Main runs nats-server with args (without the program name) and returns
// the exit code nats-server would have used; a running server returns only
// when it shuts down.
func Main(args []string, stdout, stderr io.Writer) int {
	// A bad flag is reported once, below, with a pointer to --help (not
	// the whole usage text, as nats-server prints).
	fs := flag.NewFlagSet(Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	done := false
	opts, err := server.ConfigureOptions(fs, args,
		func() {
			fmt.Fprintf(stdout, "%s: v%s\n", Name, server.VERSION)
			done = true
		},
		func() {
			fmt.Fprintf(stdout, "%s\n", usage)
			done = true
		},
		func() {
			fmt.Fprintf(stdout, "%s\n", tlsUsage)
			done = true
		})
	switch {
	case err == flag.ErrHelp:
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "%s: %s\n", Name, err)
		return 1
	case done || opts == nil:
		return 0
	case opts.CheckConfig:
		fmt.Fprintf(stderr, "%s: configuration file %s is valid (%s)\n", Name, opts.ConfigFile, opts.ConfigDigest())
		return 0
	}

	// Passwords given as flags must not show in ps.
	server.RedactArgs(os.Args)

	s, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", Name, err)
		return 1
	}
	s.ConfigureLogger()
	if err := server.Run(s); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	s.WaitForShutdown()
	return 0
}

// usage is nats-server's own usage text (main.go), for the flags
// ConfigureOptions parses.
const usage = `
Usage: natsops server [options]   (nats-server, embedded)

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222)
    -n, --name
        --server_name <server_name>  Server name (default: auto)
    -P, --pid <file>                 File to store PID
    -m, --http_port <port>           Use port for http monitoring
    -ms,--https_port <port>          Use port for https monitoring
    -c, --config <file>              Configuration file
    -t                               Test configuration and exit
    -sl,--signal <signal>[=<pid>]    Send signal to nats-server process (ldm, stop, quit, term, reopen, reload)
                                     <pid> can be either a PID (e.g. 1) or the path to a PID file (e.g. /var/run/nats-server.pid)
        --client_advertise <string>  Client URL to advertise to other servers
        --ports_file_dir <dir>       Creates a ports file in the specified directory (<executable_name>_<pid>.ports).

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
        --logtime_utc                Timestamps in UTC instead of local timezone (default: false)
    -s, --syslog                     Log to syslog or windows event log
    -r, --remote_syslog <addr>       Syslog server addr (udp://localhost:514)
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -VV                              Verbose trace (traces system account as well)
    -DV                              Debug and trace
    -DVV                             Debug and verbose trace (traces system account as well)
        --log_size_limit <limit>     Logfile size limit (default: auto)
        --max_traced_msg_len <len>   Maximum printable length for traced messages (default: unlimited)

JetStream Options:
    -js, --jetstream                 Enable JetStream functionality
    -sd, --store_dir <dir>           Set the storage directory

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Authorization token required for connections

TLS Options:
        --tls                        Enable TLS, do not verify clients (default: false)
        --tlscert <file>             Server certificate file
        --tlskey <file>              Private key for server certificate
        --tlsverify                  Enable TLS, verify client certificates
        --tlscacert <file>           Client certificate CA for verification

Cluster Options:
        --routes <rurl-1, rurl-2>    Routes to solicit and connect
        --cluster <cluster-url>      Cluster URL for solicited routes
        --cluster_name <string>      Cluster Name, if not set one will be dynamically generated
        --no_advertise <bool>        Do not advertise known cluster information to clients
        --cluster_advertise <string> Cluster URL to advertise to other servers
        --connect_retries <number>   For implicit routes, number of connect retries
        --cluster_listen <url>       Cluster url from which members can solicit routes

Profiling Options:
        --profile <port>             Profiling HTTP port

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version
        --help_tls                   TLS help
`

const tlsUsage = `
TLS Server Options:
    --tls                        Enable TLS, do not verify clients (default: false)
    --tlscert <file>             Server certificate file
    --tlskey <file>              Private key for server certificate
    --tlsverify                  Enable TLS, verify client certificates
    --tlscacert <file>           Client certificate CA for verification

See https://docs.nats.io/running-a-nats-service/configuration/securing_nats/tls
`
