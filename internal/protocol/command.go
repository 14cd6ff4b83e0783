package protocol

import (
	"fmt"
	"strconv"
)

// SerializeType says how a frame's header is encoded.
type SerializeType uint8

// The header serializations (Java's SerializeType).
const (
	JSON     SerializeType = 0
	RocketMQ SerializeType = 1
)

// String returns the Java name of the serialization.
func (t SerializeType) String() string {
	switch t {
	case JSON:
		return "JSON"
	case RocketMQ:
		return "ROCKETMQ"
	}
	return "SerializeType(" + strconv.Itoa(int(t)) + ")"
}

// Flag bits of a command.
const (
	// FlagResponse marks a response (RemotingCommandType.RESPONSE_COMMAND).
	FlagResponse int32 = 1
	// FlagOneway marks a request that must not be answered.
	FlagOneway int32 = 2
)

// Version ordinals (Java's MQVersion.Version enum positions) seen on the wire.
const (
	// Version452 is V4_5_2, what the Go client v2.1.2 sends.
	Version452 int32 = 317
	// Version494 is V4_9_4; the name server answers standard route JSON to it and later.
	Version494 int32 = 401
	// Version498 is V4_9_8, the Java release petrel behaves like.
	Version498 int32 = 409
	// CurrentVersion is what petrel stamps on the commands it sends. Clients
	// record the HEART_BEAT response version as the broker version, and Java
	// refuses SQL92 filtering against brokers older than 232.
	CurrentVersion = Version498
)

// Command is one RemotingCommand: a request or a response.
type Command struct {
	// Code is the request code of a request or the response code of a
	// response. It is int32 because RocketMQ 5 codes exceed int16 (JSON only).
	Code int32
	// Language is the sender's language name ("JAVA", "GO", ...).
	Language string
	// Version is the sender's version ordinal.
	Version int32
	// Opaque correlates a response with its request.
	Opaque int32
	// Flag holds FlagResponse and FlagOneway.
	Flag int32
	// Remark is free text, usually an error description.
	Remark string
	// Ext holds the extFields: the custom header of the command.
	Ext Fields
	// Body is the payload after the header; nil when empty.
	Body []byte
	// SerializeType is the header encoding the command arrived in or will
	// be sent in.
	SerializeType SerializeType
}

// NewRequest returns a request from this process: language GO, version
// CurrentVersion, JSON header. The opaque is left 0: the remoting layer
// assigns a fresh one when it sends the request.
func NewRequest(code int32, ext Fields, body []byte) *Command {
	return &Command{
		Code:     code,
		Language: LanguageGo,
		Version:  CurrentVersion,
		Ext:      ext,
		Body:     body,
	}
}

// NewResponse returns a response to c with the given code and remark: it
// carries c's opaque and serialize type, the response flag, language GO and
// version CurrentVersion.
func (c *Command) NewResponse(code int32, remark string) *Command {
	return &Command{
		Code:          code,
		Language:      LanguageGo,
		Version:       CurrentVersion,
		Opaque:        c.Opaque,
		Flag:          FlagResponse,
		Remark:        remark,
		SerializeType: c.SerializeType,
	}
}

// IsResponse reports whether c is a response.
func (c *Command) IsResponse() bool { return c.Flag&FlagResponse != 0 }

// IsOneway reports whether c is a request that must not be answered.
func (c *Command) IsOneway() bool { return c.Flag&FlagOneway != 0 }

// String describes c for logs (without the body).
func (c *Command) String() string {
	name := RequestName(c.Code)
	kind := "request"
	if c.IsResponse() {
		name = ResponseName(c.Code)
		kind = "response"
	}
	return fmt.Sprintf("%s %s opaque=%d flag=%d remark=%q ext=%v body=%dB",
		kind, name, c.Opaque, c.Flag, c.Remark, c.Ext, len(c.Body))
}

// Language names as they appear in JSON headers (Java's LanguageCode).
const (
	LanguageJava   = "JAVA"
	LanguageCPP    = "CPP"
	LanguageDotNet = "DOTNET"
	LanguagePython = "PYTHON"
	LanguageDelphi = "DELPHI"
	LanguageErlang = "ERLANG"
	LanguageRuby   = "RUBY"
	LanguageOther  = "OTHER"
	LanguageHTTP   = "HTTP"
	LanguageGo     = "GO"
	LanguagePHP    = "PHP"
	LanguageOMS    = "OMS"
	LanguageRust   = "RUST"
)

// languageNames is indexed by the byte code used in ROCKETMQ headers.
var languageNames = [...]string{
	LanguageJava, LanguageCPP, LanguageDotNet, LanguagePython, LanguageDelphi,
	LanguageErlang, LanguageRuby, LanguageOther, LanguageHTTP, LanguageGo,
	LanguagePHP, LanguageOMS, LanguageRust,
}

// LanguageCode returns the ROCKETMQ byte code of a language name.
func LanguageCode(name string) (code byte, ok bool) {
	for i, n := range languageNames {
		if n == name {
			return byte(i), true
		}
	}
	return 0, false
}

// LanguageName returns the name of a ROCKETMQ language byte code.
func LanguageName(code byte) (name string, ok bool) {
	if int(code) < len(languageNames) {
		return languageNames[code], true
	}
	return "", false
}
