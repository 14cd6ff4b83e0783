// Package store is petrel's message store: one append-only commit log for
// all topics, a consume queue per (topic, queue id) that indexes into it, a
// hash index by message key, group commit, crash recovery and retention. It
// is modelled on RocketMQ's store; the broker sits on top of it and the
// store never calls up into the broker except through ArrivalListener.
//
// # Directory layout
//
//	<root>/commitlog/00000000000000000000       commit-log segments, named by start offset
//	<root>/commitlog/00000000001073741824
//	<root>/consumequeue/<topic>/<queueId>/<20-digit start byte offset>
//	<root>/index/<20-digit physical offset of the file's first entry>
//	<root>/checkpoint                           see checkpoint.go
//	<root>/abort                                present while the store is open
//
// Every data file is created at its final size, preallocated (fallocate: a
// full disk fails the creation, never a later write through the mapping),
// made durable (Sync + SyncDir) and mapped shared. Writes are memory copies
// into the mapping; SyncRange makes them durable.
//
// # Commit log
//
// Records use the stored-message layout of package message. A record never
// spans two segments: when a record (plus room for a filler) does not fit,
// the rest of the segment is filled with a blank record (TOTALSIZE,
// BlankMagicCode) and the record goes to the next segment. Unwritten space
// is zeros, so a zero TOTALSIZE marks the end of written data.
//
// # Consume queue entry (20 bytes)
//
//	commit-log offset int64 | record size int32 | tags code int64
//
// Entry i of a queue is the message with queue offset i.
//
// # Index file
//
//	header (40 bytes): beginTimestamp int64 | endTimestamp int64 |
//	                   beginPhysOffset int64 | endPhysOffset int64 |
//	                   hashSlotCount int32 | indexCount int32
//	slots:   hashSlotCount × int32, the number of the newest entry in the slot (0 = none)
//	entries: indexCount × (keyHash int32 | physOffset int64 | timeDiff int32 | prev int32)
//
// Entry numbers start at 1; timeDiff is seconds since beginTimestamp; prev
// chains the entries of one slot, newest first.
//
// # Durability and visibility
//
// ASYNC_FLUSH: Put returns once the record is in the mapping (the page
// cache): it survives a process crash, not a power loss within
// flushIntervalCommitLog. SYNC_FLUSH: Put returns after a SyncRange that
// covers the record (group commit: one flusher, many waiters, one sync per
// batch), or FlushDiskTimeout after syncFlushTimeout.
//
// The dispatcher builds consume-queue and index entries from the commit
// log. Under SYNC_FLUSH it only dispatches flushed records, so a consumer
// never sees a message that a power loss could take back. A consume
// queue's newest entries live in memory too, and reach its file in blocks
// (see tailEntries) and at every checkpoint.
//
// # Recovery
//
// A checkpoint is written every checkpointInterval and on Close: the
// commit-log offset F below which everything is synced, the dispatched
// offset D <= F below which every consume-queue and index entry is synced,
// and every queue's entry count and the last index file's entry count at D.
// On open, records from F on are validated (magic, sizes, CRC, physical
// offset, no NUL in topic or properties: see message.CheckText) up to the
// first invalid or zero header, which ends the log: the
// rest is zeroed and reported. Consume queues and the index are cut back to
// their checkpointed counts and rebuilt from D. Nothing below F is trusted
// to a rescan, which keeps restarts short whatever the log's size.
package store
