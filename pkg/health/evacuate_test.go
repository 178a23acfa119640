package health

import (
	"errors"
	"testing"

	"github.com/natsops/natsops/pkg/monitor"
)

func TestEvacuateRoom(t *testing.T) {
	held := []Held{{Account: "$G", Stream: "R1", Replicas: 1}, {Account: "$G", Stream: "R3", Replicas: 3}}
	if rs := EvacuateRoom("n3", []string{"n1", "n2", "n4"}, held); len(rs) != 0 {
		t.Errorf("3 others for an R3: %v, want room", rs)
	}
	rs := EvacuateRoom("n3", []string{"n1", "n2"}, held)
	if len(rs) != 1 || rs[0].Code != ReasonNoRoom || rs[0].Asset != "$G/R3" {
		t.Errorf("2 others for an R3: %v, want $G/R3 refused for room", rs)
	}
}

func TestEvacuated(t *testing.T) {
	held := []Held{{Account: "$G", Stream: "R1", Replicas: 1}, {Account: "$G", Stream: "R2", Replicas: 2}}
	r1 := stream("R1", 1, "n3")
	r2 := stream("R2", 2, "n1", peer("n3", true, 0))
	before := map[string]*monitor.JSDetail{"n1": detail("n1", nil, r2), "n3": detail("n1", nil, r1, r2)}
	rs := Evacuated(EvacuateInput{Node: "n3", Held: held, Streams: before})
	codes := map[string]int{}
	for _, r := range rs {
		codes[r.Code]++
	}
	if codes[ReasonStillHeld] != 2 || codes[ReasonNotPlaced] != 2 {
		t.Errorf("before: %v, want both still held and not placed", rs)
	}
	// Moving: R2's new replica n2 is behind.
	moving := map[string]*monitor.JSDetail{"n1": detail("n1", nil, stream("R2", 2, "n1", peer("n2", false, 40))), "n2": detail("n1", nil, stream("R1", 1, "n2")), "n3": detail("n1", nil)}
	rs = Evacuated(EvacuateInput{Node: "n3", Held: held, Streams: moving})
	if len(rs) != 1 || rs[0].Asset != "$G/R2" || rs[0].Code != ReasonNotPlaced {
		t.Errorf("moving: %v, want only R2 not placed (n2 behind)", rs)
	}
	after := map[string]*monitor.JSDetail{"n1": detail("n1", nil, stream("R2", 2, "n1", peer("n2", true, 0))), "n2": detail("n1", nil, stream("R1", 1, "n2")), "n3": detail("n1", nil)}
	if rs := Evacuated(EvacuateInput{Node: "n3", Held: held, Streams: after}); len(rs) != 0 {
		t.Errorf("after: %v, want done", rs)
	}
	if rs := Evacuated(EvacuateInput{Node: "n3", Held: held, Streams: after, Errs: map[string]error{"n3": errors.New("refused")}}); len(rs) != 1 || rs[0].Code != ReasonUnread {
		t.Errorf("n3 unread: %v, want not done", rs)
	}
}
