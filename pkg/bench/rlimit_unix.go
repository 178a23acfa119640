//go:build unix

package bench

import "syscall"

// ClientNoFile is this process's open-files limit (soft, hard). Go raises
// the soft limit to the hard one at start, so soft is what it may use.
func ClientNoFile() (soft, hard uint64, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, err
	}
	return uint64(rl.Cur), uint64(rl.Max), nil
}
