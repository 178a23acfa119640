//go:build !unix

package bench

import "errors"

// ClientNoFile is unknown off Unix: the check is skipped.
func ClientNoFile() (soft, hard uint64, err error) {
	return 0, 0, errors.New("open-files limit unknown on this system")
}
