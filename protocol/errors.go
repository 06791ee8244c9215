package protocol

// Code is a stable numeric error code sent when a connection is closed
// (QUIC application error codes).
type Code uint64

// Wire error codes. Never renumber.
const (
	CodeOK          Code = 0 // normal close
	CodeBadFrame    Code = 1 // malformed frame or header
	CodeTooLarge    Code = 2 // frame over the size limit
	CodeUnknownType Code = 3 // unknown or unexpected message type
	CodeAuth        Code = 4 // authentication failed
	CodeVersion     Code = 5 // protocol version mismatch
	CodeShutdown    Code = 6 // the peer is shutting down
	CodeReplaced    Code = 7 // a newer connection took this one's place
	CodeInternal    Code = 8 // an internal error
	// CodeSlowConsumer: the peer read too slowly and its outgoing queue
	// passed the bound (quic.ErrSlowConsumer).
	CodeSlowConsumer Code = 9
	// CodeSilent: the peer sent nothing for too long (a client's
	// watchdog closing a controller that went quiet).
	CodeSilent Code = 10
)

var codeNames = map[Code]string{
	CodeOK: "ok", CodeBadFrame: "bad frame", CodeTooLarge: "frame too large",
	CodeUnknownType: "unexpected message", CodeAuth: "authentication failed",
	CodeVersion: "version mismatch", CodeShutdown: "shutting down",
	CodeReplaced: "replaced", CodeInternal: "internal error",
	CodeSlowConsumer: "slow consumer", CodeSilent: "peer silent",
}

func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return "unknown error"
}
