package cluster

import "testing"

// TestParseVersion: every form the two version readers before it took
// (the inventory's "2.9.10", "v2.10.1", "2.10"; /varz's and the rollout's
// "2.11.0-RC.1") and the ones natsops reads from hosts (`nats-server
// --version`, a package's "~" and "+" suffixes), one row each; and what
// is not a version.
func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Version
		ok   bool
	}{
		{"2.10.4", Version{2, 10, 4}, true},
		{"v2.10.4", Version{2, 10, 4}, true},
		{"2.9.10", Version{2, 9, 10}, true},
		{"v2.10.1", Version{2, 10, 1}, true},
		{"2.10", Version{2, 10, 0}, true},
		{"v2.10", Version{2, 10, 0}, true},
		{"2", Version{2, 0, 0}, true},
		{"2.11.0-RC.1", Version{2, 11, 0}, true},
		{"v2.15.2-beta.3", Version{2, 15, 2}, true},
		{"2.10.4+b3", Version{2, 10, 4}, true},
		{"2.9.10~deb12u1", Version{2, 9, 10}, true},
		{" 2.10.4\n", Version{2, 10, 4}, true},
		{"nats-server: v2.9.10", Version{2, 9, 10}, true},
		{"nats-server: v2.11.0-RC.1", Version{2, 11, 0}, true},
		{"2.10.4 (git commit)", Version{2, 10, 4}, true},
		{"", Version{}, false},
		{"v", Version{}, false},
		{"latest", Version{}, false},
		{"2.x", Version{}, false},
		{"2.10.4.1", Version{}, false},
		{"2..4", Version{}, false},
		{"-2.10.4", Version{}, false},
		{"nats-server: unknown", Version{}, false},
	} {
		got, ok := ParseVersion(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestVersionOrder(t *testing.T) {
	v := func(s string) Version {
		x, ok := ParseVersion(s)
		if !ok {
			t.Fatalf("%q", s)
		}
		return x
	}
	for _, tc := range []struct {
		a, b string
		less bool
		jump int
	}{
		{"2.9.10", "2.10.0", true, 1},
		{"2.10.0", "2.9.10", false, 1},
		{"2.10.1", "2.10.1", false, 0},
		{"2.10.1", "2.10.2", true, 0},
		{"2.10.24", "2.12.1", true, 2},
		{"1.4.1", "2.9.10", true, 100},
	} {
		if got := v(tc.a).Less(v(tc.b)); got != tc.less {
			t.Errorf("%s < %s = %v", tc.a, tc.b, got)
		}
		if got := v(tc.a).MinorJump(v(tc.b)); got != tc.jump {
			t.Errorf("%s to %s jumps %d, want %d", tc.a, tc.b, got, tc.jump)
		}
	}
	if s := v("v2.11.0-RC.1").String(); s != "2.11.0" {
		t.Errorf("String = %s", s)
	}
}
