package rebalance

import (
	"reflect"
	"testing"

	"github.com/natsops/natsops/pkg/natsadmin"
)

func spread(counts ...int) Spread {
	names := []string{"n1", "n2", "n3", "n4"}[:len(counts)]
	m := map[string]int{}
	for i, c := range counts {
		m[names[i]] = c
	}
	return SpreadOf(names, m)
}

func TestSpreadBandWithin(t *testing.T) {
	for _, tc := range []struct {
		name       string
		counts     []int
		even, off  float64
		lo, hi     int
		within20   bool
		wantTotals int
	}{
		// nats-server#1556: a 3-node roll turned 24/24/24 into 45/27/0.
		{"after a roll", []int{45, 27, 0}, 24, 100, 19, 29, false, 72},
		{"even", []int{24, 24, 24}, 24, 0, 19, 29, true, 72},
		{"at the edge", []int{29, 24, 19}, 24, 20.8, 19, 29, true, 72},
		{"just out", []int{30, 23, 19}, 24, 25, 19, 29, false, 72},
		// 10 clients on 3 nodes: 3.33 is not a count; the band is whole.
		{"uneven total", []int{4, 3, 3}, 10.0 / 3, 20, 2, 4, true, 10},
		{"no clients", []int{0, 0, 0}, 0, 0, 0, 0, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := spread(tc.counts...)
			if s.Total != tc.wantTotals || s.Even != tc.even || s.OffPercent != tc.off {
				t.Errorf("total %d even %v off %v, want %d %v %v", s.Total, s.Even, s.OffPercent, tc.wantTotals, tc.even, tc.off)
			}
			if lo, hi := s.Band(0.2); lo != tc.lo || hi != tc.hi {
				t.Errorf("band %d–%d, want %d–%d", lo, hi, tc.lo, tc.hi)
			}
			if got := s.Within(0.2); got != tc.within20 {
				t.Errorf("within 20%%: %v, want %v", got, tc.within20)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name   string
		counts []int
		limit  int
		want   map[string]int
	}{
		{"after a roll", []int{45, 27, 0}, 0, map[string]int{"n1": 21, "n2": 3}},
		{"piled on one", []int{90, 0, 0}, 0, map[string]int{"n1": 60}},
		{"even", []int{30, 30, 30}, 0, map[string]int{}},
		{"capped in proportion", []int{45, 45, 0}, 10, map[string]int{"n1": 5, "n2": 5}},
		{"cap below the nodes giving: one each until it is used", []int{10, 10, 10, 0}, 2, map[string]int{"n1": 1, "n2": 1}},
		{"one node", []int{9}, 0, map[string]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Plan(spread(tc.counts...), tc.limit); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Plan = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPickSkipsSystemSelfAndOlderFirst(t *testing.T) {
	conns := []natsadmin.Conn{
		{CID: 1, Kind: "Client", Account: "APP"},
		{CID: 2, Kind: "Client", Account: "$SYS"},
		{CID: 3, Kind: "Client", Account: "APP"},
		{CID: 4, Kind: "Client", Account: "OPS_SYS"},
		{CID: 5, Kind: "Client", Account: "APP"},
		{CID: 6, Kind: "Leafnode", Account: "APP"},
		{CID: 7, Kind: "Client", Account: "APP"},
	}
	var got []uint64
	for _, c := range Pick(conns, 2, 7, "OPS_SYS") {
		got = append(got, c.CID)
	}
	// 7 is self, 6 a leaf connection, 4 and 2 system accounts: the newest
	// clients left are 5 and 3.
	if !reflect.DeepEqual(got, []uint64{5, 3}) {
		t.Errorf("Pick = %v, want [5 3]", got)
	}
	if n := len(Clients(conns, "OPS_SYS")); n != 4 {
		t.Errorf("Clients counts %d, want 4 (the system accounts' and the leaf's left out)", n)
	}
}
