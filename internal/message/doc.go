// Package message owns RocketMQ's message formats: the stored-record layout
// that the commit log holds and that pull responses carry unchanged, the
// properties string, message ids, the tag hash code and the batch body a
// producer sends. It does no IO.
//
// # Stored record (v1)
//
// All integers are big-endian. Hosts are 4-byte IPv4 + 4-byte port, or
// 16-byte IPv6 + 4-byte port when the matching sysFlag bit (FlagBornHostV6,
// FlagStoreHostV6) is set.
//
//	 0  TOTALSIZE                  int32  whole record, this field included
//	 4  MAGICCODE                  int32  MagicCode (BlankMagicCode: end-of-segment filler)
//	 8  BODYCRC                    int32  CRC-32 (IEEE) of BODY & 0x7FFFFFFF
//	12  QUEUEID                    int32
//	16  FLAG                       int32  the producer's flag, verbatim
//	20  QUEUEOFFSET                int64  index of the entry in the consume queue
//	28  PHYSICALOFFSET             int64  commit-log offset of TOTALSIZE
//	36  SYSFLAG                    int32  compression, transaction type, host families
//	40  BORNTIMESTAMP              int64  ms, producer clock
//	48  BORNHOST                   8|20
//	    STORETIMESTAMP             int64  ms, broker clock at append
//	    STOREHOST                  8|20   the broker's client-facing address
//	    RECONSUMETIMES             int32
//	    PREPAREDTRANSACTIONOFFSET  int64
//	    BODYLENGTH                 int32, then BODY
//	    TOPICLENGTH                uint8, then TOPIC (at most 127 bytes)
//	    PROPERTIESLENGTH           int16, then PROPERTIES
//
// With IPv4 hosts TOTALSIZE = 91 + len(BODY) + len(TOPIC) + len(PROPERTIES).
// A blank filler record is TOTALSIZE + BlankMagicCode followed by whatever
// bytes remain in the segment; readers skip to the next segment.
//
// # Properties
//
// name 0x01 value 0x02 name 0x01 value [0x02]: the trailing separator is
// optional (Java 4.9.3+ omits it, the Go client writes it).
//
// # Batch body (SEND_BATCH_MESSAGE request)
//
//	TOTALSIZE int32 | MAGICCODE int32 | BODYCRC int32 | FLAG int32 |
//	BODYLENGTH int32 | BODY | PROPERTIESLENGTH int16 | PROPERTIES
//
// repeated; MAGICCODE and BODYCRC are ignored (the broker computes the CRC).
package message
