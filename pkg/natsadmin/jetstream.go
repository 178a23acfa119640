package natsadmin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// The system account's JetStream requests of the incident operations, as
// nats-server v2.15.2 names them (server/jetstream_api.go).
const (
	// SubjectStepDown asks the meta leader to step down, to a preferred
	// server when the request names one ({"placement":{"preferred":NAME}},
	// JSApiLeaderStepdownRequest).
	SubjectStepDown = "$JS.API.META.LEADER.STEPDOWN"
	// SubjectEvacuate asks the meta leader to move every stream and
	// consumer replica off a server ({"peer":NAME},
	// JSApiMetaServerEvacuateRequest): each stream's group is given a
	// replacement peer (an R1 stream's data moves to it) and the server
	// is excluded from it.
	SubjectEvacuate = "$JS.API.SERVER.EVACUATE"
	// SubjectRemove takes a server out of the meta group ({"peer":NAME}).
	SubjectRemove = "$JS.API.SERVER.REMOVE"
	// SubjectRescue lowers the meta group's quorum on every server that
	// receives it ({"quorum_needed":N}, JSApiMetaRescueRequest; ADR-61):
	// a broadcast, every online server answers for itself.
	SubjectRescue = "$JS.API.META.RESCUE"
)

// ErrNotMember is the meta leader's answer for a server that is not (or
// no longer) in the meta group (JSClusterServerNotMemberErr).
const ErrNotMember = 10044

// ErrUnsupported: no server answered a request the meta leader of a
// nats-server that knows it answers (an older server ignores the
// subject, so the request times out).
var ErrUnsupported = errors.New("unsupported")

// UnsupportedError: no server answered Subject within the wait.
// Leader: only the meta leader answers Subject (so a cluster without
// one does not answer either).
type UnsupportedError struct {
	Subject string
	Leader  bool
	Err     error
}

func (e *UnsupportedError) Error() string {
	if e.Leader {
		return fmt.Sprintf("no server answered %s (%v): the meta leader's nats-server does not know it (nats-server v2.15.2, the version natsops pins, does), or the cluster has no JetStream meta leader", e.Subject, e.Err)
	}
	return fmt.Sprintf("no server answered %s (%v): these nats-servers do not know it (nats-server v2.15.2, the version natsops pins, does)", e.Subject, e.Err)
}

func (e *UnsupportedError) Unwrap() error { return ErrUnsupported }

// leaderRequest sends a request only the meta leader answers: no reply
// within wait (a server that does not know the subject, or no leader)
// is an *UnsupportedError.
func leaderRequest(ctx context.Context, nc *nats.Conn, subject string, req any, wait time.Duration) error {
	rctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var resp struct {
		Success bool `json:"success"`
	}
	err := Request(rctx, nc, subject, req, &resp)
	var ae *APIError
	switch {
	case err == nil && !resp.Success:
		return fmt.Errorf("%s: the meta leader did not confirm", subject)
	case errors.As(err, &ae):
		return err
	case err != nil && ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders)):
		return &UnsupportedError{Subject: subject, Leader: true, Err: err}
	}
	return err
}

// RequestWait bounds one request of the meta leader.
const RequestWait = 5 * time.Second

// StepDown asks the meta leader to step down; to preferred when it is
// not "" (the server refuses a name that is not a current peer, or that
// already leads).
func StepDown(ctx context.Context, nc *nats.Conn, preferred string) error {
	var req any
	if preferred != "" {
		req = map[string]any{"placement": map[string]string{"preferred": preferred}}
	}
	return leaderRequest(ctx, nc, SubjectStepDown, req, RequestWait)
}

// Evacuate asks the meta leader to move every replica off server.
func Evacuate(ctx context.Context, nc *nats.Conn, server string) error {
	return leaderRequest(ctx, nc, SubjectEvacuate, map[string]string{"peer": server}, RequestWait)
}

// Remove asks the meta leader to take server out of the meta group; a
// server already out is no error.
func Remove(ctx context.Context, nc *nats.Conn, server string) error {
	err := leaderRequest(ctx, nc, SubjectRemove, map[string]string{"peer": server}, RequestWait)
	var ae *APIError
	if errors.As(err, &ae) && ae.ErrCode == ErrNotMember {
		return nil
	}
	return err
}

// RescueReply is one server's answer to a rescue.
type RescueReply struct {
	Server     string    `json:"server"`
	ServerID   string    `json:"server_id"`
	PrevQuorum int       `json:"prev_quorum,omitempty"`
	NewQuorum  int       `json:"new_quorum,omitempty"`
	Error      *APIError `json:"error,omitempty"`
}

// Rescue broadcasts a rescue lowering the meta quorum to quorum and
// collects the answers until want servers answered or wait passed.
func Rescue(ctx context.Context, nc *nats.Conn, quorum, want int, wait time.Duration) ([]RescueReply, error) {
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	data, _ := json.Marshal(map[string]int{"quorum_needed": quorum})
	if err := nc.PublishRequest(SubjectRescue, inbox, data); err != nil {
		return nil, fmt.Errorf("%s: %w", SubjectRescue, err)
	}
	rctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var out []RescueReply
	for len(out) < want {
		msg, err := sub.NextMsgWithContext(rctx)
		if err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			break
		}
		var r RescueReply
		if err := json.Unmarshal(msg.Data, &r); err != nil {
			return out, fmt.Errorf("%s: %w: %q", SubjectRescue, err, msg.Data)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, &UnsupportedError{Subject: SubjectRescue, Err: context.DeadlineExceeded}
	}
	return out, nil
}
