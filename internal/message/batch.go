package message

import (
	"encoding/binary"
	"fmt"
)

const batchItemFixed = 22 // TOTALSIZE MAGIC BODYCRC FLAG BODYLENGTH PROPERTIESLENGTH

// BatchItem is one message of a SEND_BATCH_MESSAGE body. Body and
// Properties alias the request body.
type BatchItem struct {
	Flag       int32
	Body       []byte
	Properties []byte
}

// RangeBatch calls fn for each item of a batch body, in order, after
// checking every length against the bytes present. fn's error stops the
// walk and is returned. An empty body is an error: a batch has at least one
// message.
func RangeBatch(body []byte, fn func(BatchItem) error) error {
	if len(body) == 0 {
		return fmt.Errorf("%w: empty batch", ErrCorrupt)
	}
	for i := 0; len(body) > 0; i++ {
		if len(body) < batchItemFixed {
			return fmt.Errorf("%w: batch item %d: %d bytes left, need %d", ErrCorrupt, i, len(body), batchItemFixed)
		}
		total := int(int32(binary.BigEndian.Uint32(body)))
		if total < batchItemFixed || total > len(body) {
			return fmt.Errorf("%w: batch item %d: size %d with %d bytes left", ErrCorrupt, i, total, len(body))
		}
		item := body[:total]
		bodyLen := int(int32(binary.BigEndian.Uint32(item[16:])))
		if bodyLen < 0 || 20+bodyLen+2 > total {
			return fmt.Errorf("%w: batch item %d: body length %d in item of %d", ErrCorrupt, i, bodyLen, total)
		}
		p := 20 + bodyLen
		propsLen := int(binary.BigEndian.Uint16(item[p:]))
		if p+2+propsLen != total {
			return fmt.Errorf("%w: batch item %d: lengths add to %d, size says %d", ErrCorrupt, i, p+2+propsLen, total)
		}
		err := fn(BatchItem{
			Flag:       int32(binary.BigEndian.Uint32(item[12:])),
			Body:       item[20:p:p],
			Properties: item[p+2 : total : total],
		})
		if err != nil {
			return err
		}
		body = body[total:]
	}
	return nil
}

// AppendBatchItem appends one message in the batch body encoding (used by
// clients and tests).
func AppendBatchItem(dst []byte, it BatchItem) []byte {
	total := batchItemFixed + len(it.Body) + len(it.Properties)
	dst = binary.BigEndian.AppendUint32(dst, uint32(total))
	dst = binary.BigEndian.AppendUint32(dst, 0)
	dst = binary.BigEndian.AppendUint32(dst, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(it.Flag))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(it.Body)))
	dst = append(dst, it.Body...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(it.Properties)))
	return append(dst, it.Properties...)
}
