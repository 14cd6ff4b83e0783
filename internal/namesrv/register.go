package namesrv

import (
	"errors"
	"fmt"

	"github.com/petrel-mq/petrel/internal/body"
	"github.com/petrel-mq/petrel/internal/protocol"
)

// ErrRefused is wrapped by ParseRegisterBrokerResponse's error when the name
// server answers with a code other than SUCCESS.
var ErrRefused = errors.New("namesrv: request refused")

// Header fields of REGISTER_BROKER, UNREGISTER_BROKER and their response
// (RegisterBrokerRequestHeader, RegisterBrokerResponseHeader).
const (
	fieldBrokerName   = "brokerName"
	fieldBrokerAddr   = "brokerAddr"
	fieldClusterName  = "clusterName"
	fieldHAServerAddr = "haServerAddr"
	fieldBrokerID     = "brokerId"
	fieldCompressed   = "compressed"
	fieldBodyCRC32    = "bodyCrc32"
	fieldMasterAddr   = "masterAddr"
)

// RegisterBrokerHeader identifies a broker to the name server.
type RegisterBrokerHeader struct {
	BrokerName   string // brokerName
	BrokerAddr   string // brokerAddr: the "ip:port" clients dial
	ClusterName  string // clusterName
	HAServerAddr string // haServerAddr: where slaves replicate from
	BrokerID     int64  // brokerId: 0 master, >= 1 slave
	// Compressed sends the body in the compressed form (RocketMQ's
	// compressedRegister); it drops topicSysFlag and order.
	Compressed bool
}

// NewRegisterBrokerRequest builds a REGISTER_BROKER request carrying the
// broker's topic table, with bodyCrc32 set so the name server checks it.
func NewRegisterBrokerRequest(h RegisterBrokerHeader, rb body.RegisterBrokerBody) *protocol.Command {
	b := encodeRegisterBrokerBody(rb, h.Compressed)
	ext := protocol.FieldsOf(
		fieldBrokerName, h.BrokerName,
		fieldBrokerAddr, h.BrokerAddr,
		fieldClusterName, h.ClusterName,
		fieldHAServerAddr, h.HAServerAddr,
	)
	ext.SetInt(fieldBrokerID, h.BrokerID)
	ext.SetBool(fieldCompressed, h.Compressed)
	ext.SetInt(fieldBodyCRC32, int64(bodyCRC32(b)))
	return protocol.NewRequest(protocol.RegisterBroker, ext, b)
}

// NewUnregisterBrokerRequest builds the UNREGISTER_BROKER request a broker
// sends when it shuts down in order; h.HAServerAddr and h.Compressed are not
// sent.
func NewUnregisterBrokerRequest(h RegisterBrokerHeader) *protocol.Command {
	ext := protocol.FieldsOf(
		fieldBrokerName, h.BrokerName,
		fieldBrokerAddr, h.BrokerAddr,
		fieldClusterName, h.ClusterName,
	)
	ext.SetInt(fieldBrokerID, h.BrokerID)
	return protocol.NewRequest(protocol.UnregisterBroker, ext, nil)
}

// ParseRegisterBrokerResponse reads a REGISTER_BROKER response: a slave
// learns its master's address and HA address (both "" for a master, or while
// the master is not registered). A code other than SUCCESS is an error
// wrapping ErrRefused with the code's name and the remark.
func ParseRegisterBrokerResponse(resp *protocol.Command) (masterAddr, haServerAddr string, err error) {
	if resp == nil {
		return "", "", fmt.Errorf("%w: no response", ErrRefused)
	}
	if resp.Code != protocol.Success {
		return "", "", fmt.Errorf("%w: %s: %s", ErrRefused, protocol.ResponseName(resp.Code), resp.Remark)
	}
	return resp.Ext.Get(fieldMasterAddr), resp.Ext.Get(fieldHAServerAddr), nil
}
