package client

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/petrel-mq/petrel/internal/protocol"
)

// Sentinel errors. A *BrokerError unwraps to the sentinel of its response
// code, so callers test the reason with errors.Is and get the broker and
// remark with errors.As.
var (
	// ErrClosed: the producer (or consumer) was closed.
	ErrClosed = errors.New("petrel client: closed")
	// ErrNoRoute: neither the topic nor the auto-create template (TBW102)
	// has a route on any name server.
	ErrNoRoute = errors.New("petrel client: no route for topic")
	// ErrInvalidMessage: the message was refused before sending.
	ErrInvalidMessage = errors.New("petrel client: invalid message")

	// Broker response codes (RocketMQ's names).
	ErrSystemError         = errors.New("SYSTEM_ERROR")
	ErrSystemBusy          = errors.New("SYSTEM_BUSY")
	ErrMessageIllegal      = errors.New("MESSAGE_ILLEGAL")
	ErrServiceNotAvailable = errors.New("SERVICE_NOT_AVAILABLE")
	ErrNoPermission        = errors.New("NO_PERMISSION")
	ErrTopicNotExist       = errors.New("TOPIC_NOT_EXIST")
)

var codeErrors = map[int32]error{
	protocol.SystemError:         ErrSystemError,
	protocol.SystemBusy:          ErrSystemBusy,
	protocol.MessageIllegal:      ErrMessageIllegal,
	protocol.ServiceNotAvailable: ErrServiceNotAvailable,
	protocol.NoPermission:        ErrNoPermission,
	protocol.TopicNotExist:       ErrTopicNotExist,
}

// BrokerError is a request to one server (broker or name server) that
// failed: either it answered with an error code (Code, Remark) or the
// request did not complete (Err: connection refused or closed, context
// deadline, ...).
type BrokerError struct {
	// Op is the request, e.g. "SEND_MESSAGE_V2".
	Op string
	// Broker is the broker name; empty for a name server.
	Broker string
	// Addr is the server's host:port.
	Addr string
	// Code and Remark are the response's, when there was one.
	Code   int32
	Remark string
	// Err is the transport error, when there was no response.
	Err error
}

// Error says which server and why.
func (e *BrokerError) Error() string {
	var b strings.Builder
	b.WriteString("petrel client: ")
	b.WriteString(e.Op)
	b.WriteString(" to ")
	if e.Broker != "" {
		b.WriteString("broker ")
		b.WriteString(e.Broker)
		b.WriteString(" at ")
	}
	b.WriteString(e.Addr)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
		return b.String()
	}
	b.WriteString(": ")
	b.WriteString(protocol.ResponseName(e.Code))
	b.WriteString(" (")
	b.WriteString(strconv.Itoa(int(e.Code)))
	b.WriteString(")")
	if e.Remark != "" {
		b.WriteString(": ")
		b.WriteString(e.Remark)
	}
	return b.String()
}

// Unwrap returns the transport error, or the sentinel of the response code
// (nil for codes without one).
func (e *BrokerError) Unwrap() error {
	if e.Err != nil {
		return e.Err
	}
	return codeErrors[e.Code]
}

// SendError is a send that failed on every attempt. It unwraps to each
// attempt's error, so errors.Is and errors.As look at all of them.
type SendError struct {
	Topic    string
	Attempts []error
}

// Error lists the attempts.
func (e *SendError) Error() string {
	if len(e.Attempts) == 1 {
		return fmt.Sprintf("petrel client: send to topic %s failed: %v", e.Topic, e.Attempts[0])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "petrel client: send to topic %s failed after %d attempts", e.Topic, len(e.Attempts))
	for i, err := range e.Attempts {
		fmt.Fprintf(&b, "; attempt %d: %v", i+1, err)
	}
	return b.String()
}

// Unwrap returns the attempts' errors.
func (e *SendError) Unwrap() []error { return e.Attempts }

// Last returns the last attempt's error.
func (e *SendError) Last() error { return e.Attempts[len(e.Attempts)-1] }
