package cluster

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is an inventory duration. It must be a quoted Go duration string
// ("3s", "2m"): a bare number is refused because nats-server would read it as
// seconds and TOML readers as anything.
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration; write it like \"3s\", \"500ms\" or \"2m\"", b)
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", b)
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler (for JSON output).
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Size is a byte count: an integer, or a string with a binary unit as
// nats-server reads them ("64KB", "1MB", "10GB"; KiB/MiB/GiB/TiB too).
// Decimal suffixes (1K, 1M, 1G) are refused: nats-server reads "1M" as
// 1000000 but "1MB" as 1048576, a difference nobody should have to remember.
type Size int64

// sizeUnit returns the multiplier of an upper-cased binary unit.
func sizeUnit(u string) (int64, bool) {
	switch u {
	case "B":
		return 1, true
	case "KB", "KIB":
		return 1 << 10, true
	case "MB", "MIB":
		return 1 << 20, true
	case "GB", "GIB":
		return 1 << 30, true
	case "TB", "TIB":
		return 1 << 40, true
	}
	return 0, false
}

// ParseSize parses a size string as described on Size.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	num, unit := t[:i], strings.ToUpper(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, fmt.Errorf("%q is not a size; write bytes as an integer or with a unit like \"64KB\", \"1MB\", \"10GB\"", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	if unit == "" {
		return Size(n), nil
	}
	mult, ok := sizeUnit(unit)
	if !ok {
		if unit == "K" || unit == "M" || unit == "G" || unit == "T" {
			return 0, fmt.Errorf("size %q is ambiguous (nats-server reads %s as powers of 1000); write %s%sB for binary units or an integer byte count", s, unit, num, unit)
		}
		return 0, fmt.Errorf("size %q has an unknown unit %q; use B, KB, MB, GB or TB", s, t[i:])
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return Size(n * mult), nil
}

// UnmarshalText implements encoding.TextUnmarshaler for quoted sizes; TOML
// integers decode directly.
func (z *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*z = v
	return nil
}

// String renders the size the way an operator would write it.
func (z Size) String() string {
	n := int64(z)
	for _, u := range []struct {
		name string
		mult int64
	}{{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}} {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// Version is a nats-server release number. It is the one version type:
// the inventory's service.nats_version, /varz's version, what `nats-server
// --version` prints and what provision finds installed are all read by
// ParseVersion.
type Version struct{ Major, Minor, Patch int }

// ParseVersion reads a nats-server version in any of the forms natsops
// meets: "2.10.4", "v2.10.4", "2.10" (patch 0), "2" (minor and patch 0),
// a pre-release or build ("2.11.0-RC.1", "2.10.4+b3", "2.9.10~deb12"),
// and `nats-server --version`'s "nats-server: v2.9.10". The pre-release
// is dropped: 2.11.0-RC.1 reads as 2.11.0.
func ParseVersion(s string) (Version, bool) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "nats-server:"); ok {
		s = strings.TrimSpace(rest)
	}
	s = strings.TrimPrefix(s, "v")
	if i := strings.IndexAny(s, "-+~ "); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if s == "" || len(parts) > 3 {
		return Version{}, false
	}
	var n [3]int
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return Version{}, false
		}
		n[i] = x
	}
	return Version{n[0], n[1], n[2]}, true
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Less reports whether v is an older release than w.
func (v Version) Less(w Version) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor < w.Minor
	}
	return v.Patch < w.Patch
}

// MinorJump is how many minor versions lie between v and w, either way;
// another major version counts as a jump too large to judge (100).
func (v Version) MinorJump(w Version) int {
	if v.Major != w.Major {
		return 100
	}
	d := v.Minor - w.Minor
	if d < 0 {
		d = -d
	}
	return d
}

// MinGoMemLimit is the smallest GOMEMLIMIT the inventory accepts: below
// it the Go runtime collects garbage all the time, which is never what
// was meant ("2048" is 2048 bytes, not MiB).
const MinGoMemLimit = 64 << 20

// GoMemLimitError says why a GOMEMLIMIT value is refused, and how to
// write it.
type GoMemLimitError struct{ Msg, Fix string }

func (e *GoMemLimitError) Error() string { return e.Msg + "; " + e.Fix }

// ParseGoMemLimit reads a GOMEMLIMIT value exactly as the Go runtime
// does: "off", or digits with an optional binary unit B, KiB, MiB, GiB
// or TiB (case-sensitive, no space, no sign). It returns the bytes
// ("off": -1), or a *GoMemLimitError. A value the runtime cannot read
// makes it crash at start ("malformed GOMEMLIMIT").
func ParseGoMemLimit(s string) (int64, error) {
	if s == "off" {
		return -1, nil
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	num, unit := s[:i], s[i:]
	if num == "" {
		return 0, &GoMemLimitError{fmt.Sprintf("%q is not a GOMEMLIMIT: nats-server would crash at start", s), `write bytes with a binary unit, e.g. "3GiB" or "512MiB", or "off"`}
	}
	mult := map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
	m, ok := mult[unit]
	if !ok {
		fix := `write the number with one of them, e.g. "3GiB"`
		for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
			switch strings.ToUpper(strings.TrimSpace(unit)) {
			case u[:1], strings.ToUpper(u[:1]) + "B", strings.ToUpper(u):
				fix = fmt.Sprintf("write %q", num+u)
			}
		}
		return 0, &GoMemLimitError{fmt.Sprintf("GOMEMLIMIT %q has a unit the Go runtime does not read (only B, KiB, MiB, GiB or TiB, case-sensitive): nats-server would crash at start", s), fix}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > (1<<63-1)/m {
		return 0, &GoMemLimitError{fmt.Sprintf("GOMEMLIMIT %q is too large", s), `write a limit below the host's memory, e.g. "3GiB", or "off"`}
	}
	return n * m, nil
}
