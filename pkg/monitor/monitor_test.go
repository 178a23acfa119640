package monitor

import "testing"

func TestNameRoutes(t *testing.T) {
	snaps := map[string]*Snapshot{
		"a": {Varz: &Varz{ServerID: "IDA", ServerName: "a"}, Routez: &Routez{Routes: []Route{{RemoteID: "IDB"}, {RemoteID: "IDB"}, {RemoteID: "IDX"}}}},
		"b": {Varz: &Varz{ServerID: "IDB", ServerName: "b"}, Routez: &Routez{Routes: []Route{{RemoteID: "IDA", RemoteName: "a"}}}},
		"c": nil,
	}
	NameRoutes(snaps)
	got := snaps["a"].Routez.Peers()
	if len(got) != 2 || got[0] != "b" || got[1] != "IDX" {
		t.Errorf("peers %v, want [b IDX]", got)
	}
}
