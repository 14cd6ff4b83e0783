//go:build !unix

package client

import (
	"fmt"
	"os"
)

// lockSpoolDir only creates the lock file where flock(2) does not exist:
// one producer per spool directory is then the application's duty.
func lockSpoolDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("petrel client: spool: %w", err)
	}
	return f, nil
}
