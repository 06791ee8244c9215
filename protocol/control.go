package protocol

// Bodies of the hub's control ops (Control.Op), shared by the hub and the
// client. Ops without a type here take no arguments or a plain CBOR value:
// "queue_status", "engines", "bye", "hub_history" (none), "result_status"
// and "purge_results" (an array of msg ids).

// GetResultArgs are the "get_result" op's arguments: the results of any
// tasks of the cluster. Finished ones come back at once; the asking client
// is sent the result of unfinished ones when they finish.
type GetResultArgs struct {
	MsgIDs []string `cbor:"1,keyasint"`
}

// ResultRecord is one task in the "get_result" answer (an array of them).
type ResultRecord struct {
	MsgID string `cbor:"1,keyasint"`
	// Found is false for an id the hub does not know.
	Found bool `cbor:"2,keyasint"`
	// Done says Result and Body hold the outcome; otherwise it follows as
	// a result message.
	Done   bool   `cbor:"3,keyasint"`
	Result Result `cbor:"4,keyasint"`
	Body   []byte `cbor:"5,keyasint"`
}

// ResultStatus is the "result_status" op's answer.
type ResultStatus struct {
	Pending   []string `cbor:"pending"`
	Completed []string `cbor:"completed"`
	Unknown   []string `cbor:"unknown"`
}

// QueryArgs are the "db_query" op's arguments: a Mongo-style query and the
// fields to return. The answer is an array of maps (times as unix
// seconds).
type QueryArgs struct {
	Query map[string]any `cbor:"1,keyasint"`
	Keys  []string       `cbor:"2,keyasint"`
}

// ResubmitArgs are the "resubmit" op's arguments: the tasks to run again
// and the msg ids the client chose for the new tasks.
type ResubmitArgs struct {
	MsgIDs []string `cbor:"1,keyasint"`
	NewIDs []string `cbor:"2,keyasint"`
}
