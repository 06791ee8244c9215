package scheduler

import "errors"

// kindError is a sentinel that matches its parent under errors.Is.
type kindError struct {
	msg    string
	parent error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.parent }

var (
	// ErrUnmetDependency is the parent of all dependency failures
	// (ipyparallel's UnmetDependency).
	ErrUnmetDependency error = &kindError{msg: "unmet dependency"}
	// ErrImpossibleDependency means a task's dependencies, targets or
	// blacklist can never be satisfied. It matches ErrUnmetDependency.
	ErrImpossibleDependency error = &kindError{msg: "impossible dependency", parent: ErrUnmetDependency}
	// ErrInvalidDependency means a task depends on an unknown id or on
	// itself. It matches ErrImpossibleDependency.
	ErrInvalidDependency error = &kindError{msg: "invalid dependency", parent: ErrImpossibleDependency}
	// ErrTaskTimeout means a task waited for its dependencies or an engine
	// past its Deadline.
	ErrTaskTimeout = errors.New("task timeout")
	// ErrDuplicateTask means a task was submitted with an id the scheduler
	// already knows. The existing task is not affected.
	ErrDuplicateTask = errors.New("duplicate task id")
	// ErrInvalidTask means a task was malformed (empty id).
	ErrInvalidTask = errors.New("invalid task")
	// ErrUnknownPolicy is returned by ParsePolicy for an unknown name.
	ErrUnknownPolicy = errors.New("unknown scheduling policy")
)
