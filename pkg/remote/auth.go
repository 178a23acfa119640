package remote

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// PassphrasePrompter asks the operator for an encrypted key's passphrase.
// It is called only for a key the server has accepted, so an unused key
// never prompts. Implementations must be safe for concurrent use (dials
// run in parallel); NewPassphrasePrompter serialises and caches.
type PassphrasePrompter interface {
	Passphrase(keyFile string) ([]byte, error)
}

// NewPassphrasePrompter wraps ask (e.g. a terminal prompt) so that parallel
// dials ask one at a time and each key file's passphrase is asked once per
// run.
func NewPassphrasePrompter(ask func(prompt string) ([]byte, error)) PassphrasePrompter {
	return &cachingPrompter{ask: ask, cache: map[string][]byte{}}
}

type cachingPrompter struct {
	mu    sync.Mutex
	ask   func(string) ([]byte, error)
	cache map[string][]byte
}

func (p *cachingPrompter) Passphrase(keyFile string) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pw, ok := p.cache[keyFile]; ok {
		return pw, nil
	}
	pw, err := p.ask(fmt.Sprintf("Enter passphrase for key '%s': ", keyFile))
	if err != nil {
		return nil, err
	}
	p.cache[keyFile] = pw
	return pw, nil
}

// authSetup is the client auth for one dial, and what it tried (for the
// "authentication refused" message).
type authSetup struct {
	methods []ssh.AuthMethod
	tried   []string
	skipped []string // encrypted keys we could not use, with why
	closers []io.Closer
}

func (a *authSetup) Close() {
	for _, c := range a.closers {
		c.Close()
	}
}

// newAuth builds public key auth from ssh-agent (agentSock) then t's
// identity files. Encrypted keys are signed lazily: the passphrase is asked
// only if the server accepts the key.
func newAuth(t Target, agentSock string, prompt PassphrasePrompter) (*authSetup, error) {
	a := &authSetup{}
	var signers []ssh.Signer
	agentKeys := map[string]bool{}
	if agentSock != "" {
		conn, err := net.Dial("unix", agentSock)
		if err == nil {
			a.closers = append(a.closers, conn)
			ag := agent.NewClient(conn)
			if ss, err := ag.Signers(); err == nil {
				for _, s := range ss {
					agentKeys[string(s.PublicKey().Marshal())] = true
				}
				signers = append(signers, ss...)
				a.tried = append(a.tried, fmt.Sprintf("ssh-agent (%d keys)", len(ss)))
			}
		} else {
			a.tried = append(a.tried, fmt.Sprintf("ssh-agent unreachable (%v)", err))
		}
	}
	for _, f := range t.IdentityFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			if t.IdentitiesDefault && os.IsNotExist(err) {
				continue
			}
			a.Close()
			return nil, fmt.Errorf("%s: identity file: %w", t.label(), err)
		}
		s, err := ssh.ParsePrivateKey(data)
		var pm *ssh.PassphraseMissingError
		switch {
		case err == nil:
			if !agentKeys[string(s.PublicKey().Marshal())] {
				signers = append(signers, s)
			}
			a.tried = append(a.tried, f)
		case errors.As(err, &pm):
			if pm.PublicKey != nil && agentKeys[string(pm.PublicKey.Marshal())] {
				continue // the agent holds it, unlocked
			}
			if prompt == nil {
				a.skipped = append(a.skipped, f)
				continue
			}
			if pm.PublicKey == nil {
				// Old PEM format: no public part to offer first; ask now.
				ls := &lazySigner{file: f, data: data, prompt: prompt}
				if err := ls.load(); err != nil {
					a.Close()
					return nil, fmt.Errorf("%s: %w", t.label(), err)
				}
				signers = append(signers, ls.signer)
			} else {
				signers = append(signers, &lazySigner{file: f, data: data, prompt: prompt, pub: pm.PublicKey})
			}
			a.tried = append(a.tried, f)
		default:
			a.Close()
			return nil, fmt.Errorf("%s: identity file %s: %v", t.label(), f, err)
		}
	}
	if len(signers) == 0 {
		a.Close()
		if len(a.skipped) > 0 {
			return nil, fmt.Errorf("%s: identity file %s is encrypted and there is no terminal to ask its passphrase: load it into ssh-agent (ssh-add %s) and make sure SSH_AUTH_SOCK is set", t.label(), strings.Join(a.skipped, ", "), a.skipped[0])
		}
		tried := a.tried
		if len(tried) == 0 {
			tried = []string{"no ssh-agent (SSH_AUTH_SOCK unset)"}
			tried = append(tried, t.IdentityFiles...)
			tried[len(tried)-1] += " (none found)"
		}
		return nil, fmt.Errorf("%s: no SSH key to log in with (looked at: %s): set identity_file in the inventory's [ssh], or load a key into ssh-agent", t.label(), strings.Join(tried, ", "))
	}
	a.methods = []ssh.AuthMethod{ssh.PublicKeys(signers...)}
	return a, nil
}

// lazySigner is an encrypted identity whose passphrase is asked the first
// time the server wants a signature from it.
type lazySigner struct {
	file   string
	data   []byte
	prompt PassphrasePrompter
	pub    ssh.PublicKey

	once   sync.Once
	signer ssh.Signer
	err    error
}

func (l *lazySigner) load() error {
	l.once.Do(func() {
		pw, err := l.prompt.Passphrase(l.file)
		if err != nil {
			l.err = fmt.Errorf("passphrase for %s: %w", l.file, err)
			return
		}
		s, err := ssh.ParsePrivateKeyWithPassphrase(l.data, pw)
		if err != nil {
			l.err = fmt.Errorf("identity file %s: %w", l.file, err)
			return
		}
		l.signer = s
	})
	return l.err
}

func (l *lazySigner) PublicKey() ssh.PublicKey { return l.pub }

func (l *lazySigner) Sign(rand io.Reader, data []byte) (*ssh.Signature, error) {
	if err := l.load(); err != nil {
		return nil, err
	}
	return l.signer.Sign(rand, data)
}

func (l *lazySigner) SignWithAlgorithm(rand io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	if err := l.load(); err != nil {
		return nil, err
	}
	as, ok := l.signer.(ssh.AlgorithmSigner)
	if !ok {
		return nil, fmt.Errorf("identity file %s: key cannot sign with %s", l.file, algorithm)
	}
	return as.SignWithAlgorithm(rand, data, algorithm)
}
