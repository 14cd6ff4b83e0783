package store

import "errors"

// Errors returned by the store. The broker maps them to response codes in
// one place.
var (
	// ErrClosed: the store is closed or closing.
	ErrClosed = errors.New("store closed")
	// ErrMessageIllegal: the message cannot be stored as given (size,
	// topic, batch shape).
	ErrMessageIllegal = errors.New("message illegal")
	// ErrDiskFull: writes are refused because the disk is full or above
	// diskSpaceWarningLevelRatio. Stored data is untouched.
	ErrDiskFull = errors.New("disk full")
	// ErrUnavailable: the store stopped accepting writes after a failed
	// sync; restart to recover. Reads still work.
	ErrUnavailable = errors.New("store unavailable")
	// ErrOffsetInvalid: no record at that commit-log offset.
	ErrOffsetInvalid = errors.New("invalid commit-log offset")
	// ErrMessageRemoved: the record was deleted by retention.
	ErrMessageRemoved = errors.New("message removed by retention")
	// ErrCorrupt: data on disk is inconsistent where it must not be;
	// recovery stops instead of guessing.
	ErrCorrupt = errors.New("store data corrupt")
)

// errWriteFailed marks append failures; vfs.IsNoSpace on the chain tells
// a full disk from other failures.
var errWriteFailed = errors.New("commit-log write failed")
