// Package remoting owns RocketMQ's remoting transport over TCP: connections
// that carry requests in both directions, opaque-based request/response
// correlation, per-request-code dispatch and graceful shutdown. Its shape
// follows net/http: a Handler answers a Request, a Server serves a
// net.Listener and shuts down with Shutdown(ctx), a Client invokes requests
// on lazily dialled connections.
//
// Frames and headers are protocol's business; this package moves them.
//
// # Connections
//
// A Conn is one TCP connection with two goroutines:
//
//	reader: ReadFrame ─┬─ response ──▶ the waiter registered under its opaque
//	                   └─ request ───▶ a goroutine running the Handler
//	                                   (at most MaxInFlightPerConn at once:
//	                                   the reader pauses, TCP pushes back)
//	writer: frames queued by any goroutine ──▶ one write per batch
//
// Replies and requests are encoded straight into a shared buffer under a
// lock; the writer swaps it for a spare and writes the whole batch in one
// system call, so many small replies share a syscall.
//
// Requests a side originates get opaques from one process-wide counter.
// Responses nobody waits for are dropped with a debug log, as the Go client
// does; requests pending on a connection that closes fail at once with
// ErrConnClosed.
package remoting
