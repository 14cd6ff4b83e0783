//go:build unix

package client

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockSpoolDir takes an exclusive flock(2) on path: two producers
// appending to and draining one spool would interleave and resend each
// other's records. The kernel drops the lock when the process dies, so a
// crash leaves nothing to clean up.
func lockSpoolDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("petrel client: spool: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrSpoolLocked, path)
		}
		return nil, fmt.Errorf("petrel client: spool: lock %s: %w", path, err)
	}
	return f, nil
}
