package cluster

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Size
		err  string
	}{
		{"65536", 65536, ""},
		{"64KB", 64 << 10, ""},
		{"64kb", 64 << 10, ""},
		{"1MB", 1 << 20, ""},
		{"1MiB", 1 << 20, ""},
		{"10 GB", 10 << 30, ""},
		{"2TB", 2 << 40, ""},
		{"1M", 0, "ambiguous"},
		{"1K", 0, "ambiguous"},
		{"1XB", 0, "unknown unit"},
		{"MB", 0, "not a size"},
		{"", 0, "not a size"},
		{"-1", 0, "not a size"},
		{"99999999999999999999", 0, "too large"},
		{"9999999999TB", 0, "too large"},
	} {
		got, err := ParseSize(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSize(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestSizeString(t *testing.T) {
	for z, want := range map[Size]string{65536: "64KB", 1 << 20: "1MB", 1000: "1000B", 3 << 30: "3GB"} {
		if got := z.String(); got != want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(z), got, want)
		}
	}
}

func TestSecretResolve(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/pw", "from-file\n")
	writeFile(t, dir+"/empty", "\n")
	env := MapEnv(map[string]string{"PW": "from-env"})
	for _, tc := range []struct {
		s    Secret
		want string
		err  string
	}{
		{"literal", "literal", ""},
		{"env:PW", "from-env", ""},
		{"env:NOPE", "", "environment variable NOPE is not set"},
		{"file:pw", "from-file", ""},
		{Secret("file:" + dir + "/pw"), "from-file", ""},
		{"file:missing", "", "cannot read secret file"},
		{"file:empty", "", "is empty"},
	} {
		got, err := tc.s.Resolve(dir, env)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Resolve(%s) = %q, %v; want error %q", tc.s, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Resolve(%s) = %q, %v; want %q", tc.s, got, err, tc.want)
		}
	}
	if s := Secret("hunter2").String(); strings.Contains(s, "hunter2") {
		t.Errorf("Secret.String() reveals the literal: %q", s)
	}
}

func TestIsBcrypt(t *testing.T) {
	if !IsBcrypt("$2a$11$GHOkBphzRKiRCrs1LR9i3u83loD17PqHBW9gLgPlD48ENuWSY7n2.") {
		t.Error("a real bcrypt hash is not recognised")
	}
	for _, s := range []string{"$2a$11$short", "password", "$$2a$11$GHOkBphzRKiRCrs1LR9i3u83loD17PqHBW9gLgPlD48ENuWSY7n2."} {
		if IsBcrypt(s) {
			t.Errorf("IsBcrypt(%q) = true", s)
		}
	}
}

// TestParseGoMemLimit: the Go runtime's own syntax, one row per case.
func TestParseGoMemLimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		fix  string // "" when accepted
	}{
		{"3GiB", 3 << 30, ""},
		{"512MiB", 512 << 20, ""},
		{"1TiB", 1 << 40, ""},
		{"64KiB", 64 << 10, ""},
		{"1048576B", 1 << 20, ""},
		{"1073741824", 1 << 30, ""},
		{"off", -1, ""},
		{"2GB", 0, `write "2GiB"`},
		{"2G", 0, `write "2GiB"`},
		{"2gib", 0, `write "2GiB"`},
		{"100M", 0, `write "100MiB"`},
		{"3 GiB", 0, `write "3GiB"`},
		{"1.5GiB", 0, `write the number with one of them`},
		{"", 0, `e.g. "3GiB"`},
		{"-1", 0, `e.g. "3GiB"`},
		{"OFF", 0, `e.g. "3GiB"`},
		{"99999999999TiB", 0, `below the host's memory`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseGoMemLimit(tc.in)
			if tc.fix == "" {
				if err != nil || got != tc.want {
					t.Fatalf("ParseGoMemLimit(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
				}
				return
			}
			var e *GoMemLimitError
			if !errors.As(err, &e) || !strings.Contains(e.Fix, tc.fix) {
				t.Fatalf("ParseGoMemLimit(%q) = %d, %v; want a refusal whose fix says %q", tc.in, got, err, tc.fix)
			}
		})
	}
}
