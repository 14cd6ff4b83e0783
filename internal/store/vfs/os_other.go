//go:build !linux

package vfs

import (
	"errors"
	"os"
)

// Petrel's store runs on Linux; elsewhere the OS file system works for
// plain files only, so that the module builds and plain-file tools run.

func fallocate(f *os.File, size int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() >= size {
		return nil
	}
	return f.Truncate(size)
}

func fdatasync(f *os.File) error { return f.Sync() }

func openDirect(string) (*os.File, error) { return nil, errors.ErrUnsupported }

func mmap(*os.File, int) ([]byte, error) { return nil, errors.ErrUnsupported }

func munmap([]byte) error { return errors.ErrUnsupported }

func msync([]byte) error { return errors.ErrUnsupported }

func statfs(string) (DiskUsage, error) { return DiskUsage{}, errors.ErrUnsupported }

func zeroRange(f *os.File, off, n int64) error { return writeZeros(f, off, n) }
