package protocol

// Bodies of the hub's control ops (Control.Op), shared by the hub and the
// client. Ops without a type here take no arguments or a plain CBOR value:
// "queue_status", "engines", "bye", "result_status" and "purge_results"
// (an array of msg ids, at most MaxPageElements).
//
// Decoders accept at most 1<<20 elements in one array, so long answers
// come in pages: "hub_history" with PageArgs answers a HistoryPage (with
// no body, every id at once), "db_query" with QueryArgs.Limit set answers
// a QueryPage. Clients ask for the next page at Next until Done.

// MaxPageElements is the most elements a client asks for in one page, and
// the most msg ids it sends in one "purge_results".
const MaxPageElements = 1 << 18

// PageArgs ask for at most Limit elements from Offset.
type PageArgs struct {
	Offset int `cbor:"1,keyasint"`
	Limit  int `cbor:"2,keyasint"`
}

// HistoryPage is one page of the "hub_history" answer.
type HistoryPage struct {
	IDs  []string `cbor:"1,keyasint"`
	Next int      `cbor:"2,keyasint"` // offset of the next page
	Done bool     `cbor:"3,keyasint"` // this was the last page
}

// QueryPage is one page of the "db_query" answer. The hub also ends a
// page early when its rows pass MaxPageBytes (always at least one row).
type QueryPage struct {
	Rows []map[string]any `cbor:"1,keyasint"`
	Next int              `cbor:"2,keyasint"`
	Done bool             `cbor:"3,keyasint"`
}

// MaxPageBytes is about the most bytes of rows the hub puts in one
// "db_query" page.
const MaxPageBytes = 64 << 20

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
	// Offset and Limit, when Limit > 0, ask for one page (a QueryPage);
	// otherwise the answer is every row at once.
	Offset int `cbor:"3,keyasint,omitempty"`
	Limit  int `cbor:"4,keyasint,omitempty"`
}

// ResubmitArgs are the "resubmit" op's arguments: the tasks to run again
// and the msg ids the client chose for the new tasks.
type ResubmitArgs struct {
	MsgIDs []string `cbor:"1,keyasint"`
	NewIDs []string `cbor:"2,keyasint"`
}
