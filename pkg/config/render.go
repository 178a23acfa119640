// Package config turns inventory nodes into nats-server config files and
// proves them: render (the embedded or given templates, every value through
// pkg/natsconf), validate with nats-server's own parser and NewServer,
// lint (rules L001.., with a fix each), and compare a deployed config with
// a rendered one (a diff with secrets masked on both sides; whether a
// reload applies it or a restart is needed).
//
// It is pure apart from reading templates and secret files: it never
// talks to a host. Callers bring the deployed bytes.
package config

import (
	"bytes"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"text/template"

	"github.com/natsops/natsops/pkg/cluster"
	"github.com/natsops/natsops/pkg/natsconf"
	"github.com/natsops/natsops/templates"
)

// Templates is a parsed template set.
type Templates struct {
	t *template.Template
	// fsys and dir: a --templates directory (nil fsys: the embedded
	// templates), to tell a value a template wrote from the inventory's.
	fsys fs.FS
	dir  string
}

// WithDir names the directory ts was loaded from (--templates), for the
// findings a template causes.
func (ts *Templates) WithDir(dir string) *Templates {
	out := *ts
	out.dir = dir
	return &out
}

// LoadTemplates parses the templates in fsys (nil: the embedded ones). The
// template functions are bound per render, so one set serves every node.
func LoadTemplates(fsys fs.FS) (*Templates, error) {
	src := "embedded templates"
	if fsys == nil {
		fsys = templates.FS
	} else {
		src = "templates directory"
	}
	t, err := template.New(templates.Main).Option("missingkey=error").Funcs(funcs(false, nil)).ParseFS(fsys, "*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	if t.Lookup(templates.Main) == nil {
		return nil, fmt.Errorf("%s: %s is missing", src, templates.Main)
	}
	out := &Templates{t: t}
	if src != "embedded templates" {
		out.fsys = fsys
	}
	return out, nil
}

// RenderOptions changes how configs are rendered.
type RenderOptions struct {
	// Env resolves env: secrets; nil means the process environment.
	Env cluster.Env
	// Mask replaces every secret with a placeholder, for showing a config.
	Mask bool
	// TLSPath maps certificate paths; kind is "cert", "key" or "ca".
	// Validation swaps in local stand-ins for files that live only on the
	// node. nil keeps them.
	TLSPath func(kind, path string) string
}

// Rendered is one node's config.
type Rendered struct {
	Node   *cluster.Node
	Config []byte
	// secrets holds every secret value in the config, to scrub them from
	// any message that might quote the file.
	secrets []string
}

// secretValue is a resolved secret on its way into a template. Only the
// secret function prints it.
type secretValue struct{ v string }

// view is what the templates see.
type view struct {
	Source    string
	Node      *cluster.Node
	Server    cluster.ServerSpec
	Auth      *authView
	Cluster   *clusterView
	JetStream *cluster.JetStreamSpec
	// The estate's parts, nil or empty when the inventory has none (a
	// single-cluster inventory renders as before).
	Accounts      []accountView
	SystemAccount string
	NoAuthUser    string
	Gateway       *gatewayView
	LeafNodes     *leafView
}

type accountView struct {
	Name      string
	Users     []userView
	Exports   []cluster.ExportSpec
	Imports   []cluster.ImportSpec
	JetStream *cluster.AccountJetStreamSpec
}

type gatewayView struct {
	Name                 string
	ListenHost           string
	Port                 int
	User                 string
	Password             *secretValue
	TLS                  *cluster.TLSSpec
	RejectUnknownCluster *bool
	Remotes              []gatewayRemoteView
}

type gatewayRemoteView struct {
	Name string
	URLs []routeURL
}

// leafView is a hub's listener (Users) or a leaf cluster's remotes.
type leafView struct {
	Listen     bool
	ListenHost string
	Port       int
	TLS        *cluster.TLSSpec
	Users      []leafUserView
	Remotes    []leafRemoteView
}

type leafUserView struct {
	User     string
	Password secretValue
	Account  string
}

type leafRemoteView struct {
	URLs        []routeURL
	Account     string
	Credentials *string
	TLS         *cluster.TLSSpec
}

type authView struct {
	Timeout  *cluster.Duration
	User     *string
	Password *secretValue
	Token    *secretValue
	Users    []userView
	// System is the system account's user, when the inventory names one.
	System *userView
}

type userView struct {
	User        string
	Password    secretValue
	NKey        string
	Permissions *cluster.PermissionsSpec
}

type clusterView struct {
	Name       string
	ListenHost string
	Port       int
	PoolSize   *int
	User       string
	Password   secretValue
	TLS        *cluster.TLSSpec
	Routes     []routeURL
}

// routeURL is a route to a peer; it is a secret when it carries the route
// credentials.
type routeURL struct {
	url      string
	hasCreds bool
}

// Render renders node n's config.
func Render(inv *cluster.Inventory, ts *Templates, n *cluster.Node, opts RenderOptions) (*Rendered, error) {
	r := &Rendered{Node: n}
	vals := map[string]secretValue{}
	for _, f := range inv.Secrets(n) {
		v, err := f.Secret.Resolve(inv.Dir, opts.Env)
		if err != nil {
			return nil, &SecretError{Node: n, Key: f.Key, Err: err}
		}
		r.secrets = append(r.secrets, v)
		vals[f.Key] = secretValue{v}
	}
	secret := func(key string) *secretValue {
		if v, ok := vals[key]; ok {
			return &v
		}
		return nil
	}
	v := view{Source: filepath.Base(inv.Path), Node: n, Server: n.Server}

	a := n.Server.Auth
	// With accounts, clients log in to them: the authorization block
	// then carries only the timeout (and any global-account users).
	if a.User != nil || a.Password != nil || a.Token != nil || len(a.Users) > 0 || a.SystemUser != nil || (a.Timeout != nil && len(inv.File.Accounts) > 0) {
		av := &authView{Timeout: a.Timeout, User: a.User, Password: secret("server.auth.password"), Token: secret("server.auth.token")}
		for i, u := range a.Users {
			uv := userView{User: u.User, NKey: u.NKey, Permissions: u.Permissions}
			if p := secret(fmt.Sprintf("server.auth.users[%d].password", i)); p != nil {
				uv.Password = *p
			}
			av.Users = append(av.Users, uv)
		}
		if a.SystemUser != nil {
			if p := secret("server.auth.system_password"); p != nil {
				av.System = &userView{User: *a.SystemUser, Password: *p}
			}
		}
		v.Auth = av
	}

	if inv.Clustered() {
		cl := inv.File.Cluster
		cv := &clusterView{
			Name:       deref(cl.Name, ""),
			ListenHost: *n.Cluster.ListenHost,
			Port:       *n.Cluster.Port,
			PoolSize:   cl.PoolSize,
			User:       deref(cl.User, ""),
			TLS:        cl.TLS,
		}
		var user *url.Userinfo
		if p := secret("cluster.password"); p != nil {
			cv.Password = *p
			user = url.UserPassword(cv.User, p.v)
		}
		for _, peer := range inv.Nodes {
			if peer == n {
				continue
			}
			u := url.URL{Scheme: "nats-route", User: user, Host: net.JoinHostPort(peer.RouteHost, strconv.Itoa(*peer.Cluster.Port))}
			route := routeURL{url: u.String(), hasCreds: user != nil}
			if route.hasCreds {
				r.secrets = append(r.secrets, route.url)
			}
			cv.Routes = append(cv.Routes, route)
		}
		v.Cluster = cv
	}
	if n.JetStreamEnabled() {
		js := n.JetStream
		v.JetStream = &js
	}
	r.estate(inv, n, &v, secret)

	t, err := ts.t.Clone()
	if err != nil {
		return nil, err
	}
	fm := funcs(opts.Mask, opts.TLSPath)
	fm["include"] = func(name string, data any) (string, error) {
		var b strings.Builder
		err := t.ExecuteTemplate(&b, name, data)
		return b.String(), err
	}
	var buf bytes.Buffer
	if err := t.Funcs(fm).ExecuteTemplate(&buf, templates.Main, v); err != nil {
		return nil, fmt.Errorf("node %s: rendering: %s", n.Name, Scrub(err.Error(), r.secrets))
	}
	out := bytes.TrimRight(buf.Bytes(), " \t\r\n")
	r.Config = append(out, '\n')
	return r, nil
}

// estate fills in the accounts, gateway and leaf nodes of n's view.
func (r *Rendered) estate(inv *cluster.Inventory, n *cluster.Node, v *view, secret func(string) *secretValue) {
	for _, name := range inv.AccountNames() {
		acc := inv.File.Accounts[name]
		av := accountView{Name: name, Exports: acc.Exports, Imports: acc.Imports, JetStream: acc.JetStream}
		for i, u := range acc.Users {
			uv := userView{User: u.User, NKey: u.NKey, Permissions: u.Permissions}
			if p := secret(fmt.Sprintf("accounts.%s.users[%d].password", name, i)); p != nil {
				uv.Password = *p
			}
			av.Users = append(av.Users, uv)
		}
		v.Accounts = append(v.Accounts, av)
	}
	v.SystemAccount = deref(n.Server.Auth.SystemAccount, "")
	v.NoAuthUser = deref(n.Server.Auth.NoAuthUser, "")
	withCreds := func(scheme string, user *url.Userinfo, addr string) routeURL {
		u := url.URL{Scheme: scheme, User: user, Host: addr}
		ru := routeURL{url: u.String(), hasCreds: user != nil}
		if ru.hasCreds {
			r.secrets = append(r.secrets, ru.url)
		}
		return ru
	}
	if inv.HasGateway() {
		g := inv.File.Gateway
		gv := &gatewayView{Name: inv.ClusterName(), ListenHost: *n.Gateway.ListenHost, Port: *n.Gateway.Port,
			User: deref(g.User, ""), TLS: g.TLS, RejectUnknownCluster: g.RejectUnknownCluster}
		var user *url.Userinfo
		if p := secret("gateway.password"); p != nil {
			gv.Password = p
			user = url.UserPassword(gv.User, p.v)
		}
		for _, rc := range inv.GatewayRemotes() {
			rv := gatewayRemoteView{Name: rc.Name}
			for _, peer := range rc.Nodes {
				rv.URLs = append(rv.URLs, withCreds("nats", user, peer.GatewayAddr()))
			}
			gv.Remotes = append(gv.Remotes, rv)
		}
		v.Gateway = gv
	}
	l := inv.File.LeafNodes
	switch {
	case l == nil:
	case inv.LeafListens():
		lv := &leafView{Listen: true, ListenHost: *n.LeafNodes.ListenHost, Port: *n.LeafNodes.Port, TLS: l.TLS}
		for i, u := range l.Users {
			uv := leafUserView{User: u.User, Account: u.Account}
			if p := secret(fmt.Sprintf("leafnodes.users[%d].password", i)); p != nil {
				uv.Password = *p
			}
			lv.Users = append(lv.Users, uv)
		}
		v.LeafNodes = lv
	case inv.IsLeaf():
		lv := &leafView{}
		for i, rm := range l.Remotes {
			rv := leafRemoteView{Account: rm.Account, Credentials: rm.Credentials, TLS: rm.TLS}
			var user *url.Userinfo
			if p := secret(fmt.Sprintf("leafnodes.remotes[%d].password", i)); p != nil && rm.User != nil {
				user = url.UserPassword(*rm.User, p.v)
			}
			if hub := inv.Hub(rm); hub != nil {
				for _, hn := range hub.Nodes {
					rv.URLs = append(rv.URLs, withCreds("nats-leaf", user, hn.LeafAddr()))
				}
			}
			lv.Remotes = append(lv.Remotes, rv)
		}
		v.LeafNodes = lv
	}
}

// SecretError is a secret that could not be resolved while rendering.
type SecretError struct {
	Node *cluster.Node
	Key  string
	Err  error
}

func (e *SecretError) Error() string {
	return fmt.Sprintf("node %s: %s: %v", e.Node.Name, e.Key, e.Err)
}

func (e *SecretError) Unwrap() error { return e.Err }

// Masked is the placeholder shown instead of a secret.
const Masked = "<secret>"

// funcs are the template functions: each turns one value into one config
// token through natsconf, so templates cannot emit an unquoted string.
func funcs(mask bool, tlsPath func(kind, path string) string) template.FuncMap {
	return template.FuncMap{
		"q": func(v any) string { return natsconf.Quote(deref(indirect[string](v), "")) },
		"secret": func(v any) string {
			s := indirect[secretValue](v)
			if s == nil {
				return `""`
			}
			if mask {
				return natsconf.Quote(Masked)
			}
			return natsconf.Quote(s.v)
		},
		"route": func(r routeURL) string {
			if mask && r.hasCreds {
				u, err := url.Parse(r.url)
				if err != nil {
					return natsconf.Quote(Masked)
				}
				return natsconf.Quote(u.Scheme + "://" + Masked + "@" + u.Host)
			}
			return natsconf.Quote(r.url)
		},
		"tlsfile": func(kind string, v any) string {
			p := deref(indirect[string](v), "")
			if tlsPath != nil {
				p = tlsPath(kind, p)
			}
			return natsconf.Quote(p)
		},
		"dur": func(v any) string {
			return natsconf.Duration(deref(indirect[cluster.Duration](v), cluster.Duration{}).Duration)
		},
		"seconds": func(v any) string {
			return natsconf.Seconds(deref(indirect[cluster.Duration](v), cluster.Duration{}).Duration)
		},
		// include and indent let a block template serve at any depth.
		"include": func(string, any) (string, error) { return "", nil },
		"indent": func(n int, s string) string {
			return strings.ReplaceAll(s, "\n", "\n"+strings.Repeat(" ", n))
		},
		"size": func(v any) string { return natsconf.Size(int64(deref(indirect[cluster.Size](v), 0))) },
		"int":  func(v any) string { return natsconf.Int(int64(deref(indirect[int](v), 0))) },
		"bool": func(v any) string { return natsconf.Bool(deref(indirect[bool](v), false)) },
	}
}

// indirect accepts a T or a *T from a template and returns a *T (nil when
// the value has another type, which the template author sees as an empty
// value rather than a panic).
func indirect[T any](v any) *T {
	switch x := v.(type) {
	case T:
		return &x
	case *T:
		return x
	}
	rv := reflect.ValueOf(v)
	if rv.IsValid() && rv.Kind() == reflect.Pointer && !rv.IsNil() {
		if x, ok := rv.Elem().Interface().(T); ok {
			return &x
		}
	}
	return nil
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
