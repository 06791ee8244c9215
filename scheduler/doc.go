// Package scheduler is pxsh's load-balancing task scheduler: the policies
// that pick an engine for a task and the dependency graph that decides when
// (after=) and where (follow=) a task may run. It is the Go counterpart of
// ipyparallel's TaskScheduler and Dependency.
//
// The package is pure code: it does no I/O, starts no goroutines and reads
// no clock (callers pass the time in). It must not import any other pxsh
// package, not even protocol; the hub drives it and translates its Actions
// into messages.
//
// # Driving the scheduler
//
// The hub calls AddEngine and RemoveEngine as engines come and go, Submit for
// each load-balanced task, Finish when a task's result arrives, Retry when a
// task failed and may be resubmitted, Abort to drop a waiting task, and Tick
// periodically so tasks that waited past their Deadline fail with
// ErrTaskTimeout. Each call returns the Actions the hub must carry out:
// Assign (send the task to Action.Engine) or Fail (reply to the client with
// Action.Err). A task ends exactly once: either a Fail action, or an Assign
// followed by the hub's Finish (or Retry, which may lead to a new Assign), or
// a successful Abort. QueueLen, Running, Load, Engines and NextDeadline
// report state (NextDeadline tells the hub when the next Tick is due).
//
// # Policies
//
// Config.Policy chooses among the eligible engines that have a free slot
// (fewer than Config.HWM outstanding tasks; HWM 0 means no limit):
//
//   - leastload (default): fewest outstanding tasks; ties go to the least
//     recently assigned engine, then the lowest id.
//   - lru: least recently assigned engine (never-used first), then lowest id.
//   - plainrandom: uniform random.
//   - weighted: two draws with weight 1/(load+1e-6), keep the less loaded
//     (the first draw on a tie).
//   - twobin: two uniform draws, keep the less recently assigned.
//
// # Queueing
//
// Tasks that cannot be placed wait in queues ordered by Priority (higher
// first), then submission order. Tasks are grouped by their set of eligible
// engines, so a task waiting for busy targets never blocks a task that could
// run elsewhere. When a slot frees on an engine, the best waiting task that
// may run there is assigned to it. A retried task keeps its original place
// in the submission order.
//
// # Dependencies
//
// Task.After lists tasks that must finish first; Task.Follow lists tasks
// that must finish first and on whose engine this task must run. By default
// all of them must have succeeded; DepAny makes one suffice, and
// DepSuccess/DepFailure say which outcomes count (both false means success
// only). As in ipyparallel:
//
//   - a dependency on an id the scheduler does not know, or on the task
//     itself, fails the task with ErrInvalidDependency;
//   - a dependency that can no longer be met (say, a required success
//     failed) fails it with ErrImpossibleDependency;
//   - Follow with all semantics on tasks that ran on different engines, or
//     whose engine is gone, blacklisted or outside Targets, fails it with
//     ErrImpossibleDependency;
//   - a task with Targets none of which is registered (after removing the
//     engines it is blacklisted on) fails with ErrImpossibleDependency.
//
// ErrInvalidDependency matches ErrImpossibleDependency, which matches
// ErrUnmetDependency, under errors.Is, mirroring ipyparallel's exception
// hierarchy. A task failed by the scheduler counts as a failure (with no
// engine) for the tasks that depend on it, so failures cascade.
//
// Outcomes of finished tasks are remembered for Config.History tasks; a
// dependency on a forgotten id is treated as unknown (ErrInvalidDependency),
// so the hub should keep History well above the number of tasks a client
// may still refer to. With DepAny and Follow, the task becomes runnable as
// soon as one followed task has finished with a counted outcome, and it runs
// on one of the engines known at that moment.
//
// # Retries
//
// Retry resubmits a failed task if it has retries left, blacklisting the
// engine it failed on. When every engine in its Targets is blacklisted it
// fails with ErrImpossibleDependency; without Targets it waits for a new
// engine (or its Deadline), as ipyparallel does.
//
// A Scheduler is not safe for concurrent use; the hub owns it from one
// goroutine.
package scheduler
