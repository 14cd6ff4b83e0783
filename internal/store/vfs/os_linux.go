//go:build linux

package vfs

import (
	"errors"
	"os"
	"syscall"
	"unsafe"
)

// fallocate reserves blocks for [0,size) and extends the file to size. On
// file systems without fallocate it only extends the file, so a full disk
// may then show up later as a write error instead.
func fallocate(f *os.File, size int64) error {
	if size == 0 {
		return nil // fallocate rejects a zero length
	}
	err := withFd(f, func(fd int) error {
		return ignoringEINTR(func() error { return syscall.Fallocate(fd, 0, 0, size) })
	})
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		fi, statErr := f.Stat()
		if statErr != nil {
			return statErr
		}
		if fi.Size() >= size {
			return nil
		}
		return f.Truncate(size)
	}
	return err
}

const (
	fallocKeepSize  = 0x01
	fallocZeroRange = 0x10
)

// zeroRange clears [off, off+n) with fallocate(ZERO_RANGE), falling back to
// writing zeros where the file system lacks it.
func zeroRange(f *os.File, off, n int64) error {
	if n == 0 {
		return nil
	}
	err := withFd(f, func(fd int) error {
		return ignoringEINTR(func() error { return syscall.Fallocate(fd, fallocZeroRange|fallocKeepSize, off, n) })
	})
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		return writeZeros(f, off, n)
	}
	return err
}

func openDirect(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_WRONLY|syscall.O_DIRECT, 0)
}

func fdatasync(f *os.File) error {
	return withFd(f, func(fd int) error {
		return ignoringEINTR(func() error { return syscall.Fdatasync(fd) })
	})
}

func mmap(f *os.File, size int) ([]byte, error) {
	var m []byte
	err := withFd(f, func(fd int) error {
		var err error
		m, err = syscall.Mmap(fd, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
		return err
	})
	return m, err
}

func munmap(m []byte) error { return syscall.Munmap(m) }

// msync writes back b, a page-aligned part of a mapping, and waits for it.
func msync(b []byte) error {
	return ignoringEINTR(func() error {
		_, _, errno := syscall.Syscall(syscall.SYS_MSYNC,
			uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), syscall.MS_SYNC)
		if errno != 0 {
			return errno
		}
		return nil
	})
}

func statfs(path string) (DiskUsage, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return DiskUsage{}, err
	}
	bsize := uint64(st.Bsize)
	return DiskUsage{Total: st.Blocks * bsize, Avail: st.Bavail * bsize}, nil
}

// withFd runs fn on f's descriptor while f cannot be closed under it.
func withFd(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var fnErr error
	if err := rc.Control(func(fd uintptr) { fnErr = fn(int(fd)) }); err != nil {
		return err
	}
	return fnErr
}

func ignoringEINTR(fn func() error) error {
	for {
		err := fn()
		if err != syscall.EINTR {
			return err
		}
	}
}
