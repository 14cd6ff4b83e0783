package broker

import (
	"errors"

	"github.com/petrel-mq/petrel/internal/protocol"
	"github.com/petrel-mq/petrel/internal/store"
)

// storeErrorResponse is the one place store errors become response codes:
// what the client can fix is MESSAGE_ILLEGAL, what another broker could
// take is SERVICE_NOT_AVAILABLE (clients retry it elsewhere), the rest is
// SYSTEM_ERROR. The remark carries the error for a person to read.
func storeErrorResponse(cmd *protocol.Command, err error) *protocol.Command {
	code := protocol.SystemError
	switch {
	case errors.Is(err, store.ErrMessageIllegal), errors.Is(err, errTimerIllegal):
		code = protocol.MessageIllegal
	case errors.Is(err, store.ErrDiskFull), errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrClosed):
		code = protocol.ServiceNotAvailable
	}
	return cmd.NewResponse(code, err.Error())
}
