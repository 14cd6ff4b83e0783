package message

import (
	"fmt"
	"net/netip"
)

// Ext is a fully decoded stored message (RocketMQ's MessageExt), for the
// paths that need every field as Go values: retries, transactions, admin
// queries and tests. The hot paths use Record instead.
type Ext struct {
	StoreSize                 int32
	BodyCRC                   int32
	QueueID                   int32
	Flag                      int32
	QueueOffset               int64
	PhysicalOffset            int64
	SysFlag                   int32
	BornTimestamp             int64
	BornHost                  netip.AddrPort
	StoreTimestamp            int64
	StoreHost                 netip.AddrPort
	ReconsumeTimes            int32
	PreparedTransactionOffset int64
	Body                      []byte
	Topic                     string
	Properties                map[string]string
	RawProperties             []byte
}

// MsgID is the offset message id of the decoded message.
func (e *Ext) MsgID() string { return OffsetMsgID(e.StoreHost, e.PhysicalOffset) }

// Decode checks (with the body CRC) and decodes one stored record. The
// body and raw properties alias b (capped, so appending to them copies):
// a consumer decodes a whole pull response, which it owns, and copying
// every body was a tenth of a backlog drain's decoding.
func Decode(b []byte) (*Ext, error) {
	size, blank, err := CheckRecord(b, true)
	if err != nil {
		return nil, err
	}
	if blank {
		return nil, fmt.Errorf("%w: blank filler, not a message", ErrCorrupt)
	}
	r := Record(b[:size])
	props := r.Properties()
	props = props[:len(props):len(props)]
	body := r.Body()
	return &Ext{
		StoreSize:                 r.TotalSize(),
		BodyCRC:                   r.BodyCRC(),
		QueueID:                   r.QueueID(),
		Flag:                      r.Flag(),
		QueueOffset:               r.QueueOffset(),
		PhysicalOffset:            r.PhysicalOffset(),
		SysFlag:                   r.SysFlag(),
		BornTimestamp:             r.BornTimestamp(),
		BornHost:                  r.BornHost(),
		StoreTimestamp:            r.StoreTimestamp(),
		StoreHost:                 r.StoreHost(),
		ReconsumeTimes:            r.ReconsumeTimes(),
		PreparedTransactionOffset: r.PreparedTransactionOffset(),
		Body:                      body[:len(body):len(body)],
		Topic:                     string(r.Topic()),
		Properties:                ParseProperties(props),
		RawProperties:             props,
	}, nil
}

// DecodeAll decodes a concatenation of stored records, as in a pull
// response body.
func DecodeAll(b []byte) ([]*Ext, error) {
	var out []*Ext
	for len(b) > 0 {
		e, err := Decode(b)
		if err != nil {
			return out, fmt.Errorf("record %d: %w", len(out), err)
		}
		out = append(out, e)
		b = b[e.StoreSize:]
	}
	return out, nil
}
