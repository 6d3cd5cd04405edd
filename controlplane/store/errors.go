package store

import (
	"errors"
	"fmt"
)

// ErrUncertain: leadership was lost after a write was handed to Raft and before it was
// known to be committed, so it may or may not have been applied. Errors that wrap it
// also wrap ErrNoLeader, so a caller that only knows ErrNoLeader answers 503 and the
// client retries; a retried create may then meet ErrExists for its own first attempt,
// as with etcd after a leader failure.
var ErrUncertain = errors.New("leadership lost before the write was confirmed; it may or may not have been applied")

// ConflictError is returned for ErrConflict and ErrExists: the write lost its
// compare-and-swap. errors.Is(err, ErrConflict) (or ErrExists) holds, and errors.As
// gives the revision the object had when the FSM decided.
type ConflictError struct {
	Op  string // "create", "update", "delete"
	Key string
	// Rev is the object's current revision as the FSM saw it when it refused the write.
	Rev uint64
	Err error // ErrConflict or ErrExists
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s %s: %v (current revision %d)", e.Op, e.Key, e.Err, e.Rev)
}

func (e *ConflictError) Unwrap() error { return e.Err }

// errRetry marks a failure that happened before a request could have had any effect
// (no leader yet, leader unreachable, member not leader any more): the caller may try
// again with whoever leads next.
type errRetry struct{ err error }

func (e errRetry) Error() string { return e.err.Error() }
func (e errRetry) Unwrap() error { return e.err }

func retryable(err error) error { return errRetry{err} }

func isRetryable(err error) bool {
	var r errRetry
	return errors.As(err, &r)
}

var errNotLeader = errors.New("not the leader")

// uncertain wraps both ErrNoLeader and ErrUncertain; see ErrUncertain.
func uncertain(cause error) error {
	return fmt.Errorf("%w: %w (%v)", ErrNoLeader, ErrUncertain, cause)
}

// TxnError is returned by Txn when one of its writes was refused: nothing was written.
// Err is what that write alone would have got from Create, Update or Delete, so
// errors.Is(err, ErrExists) (ErrConflict, ErrNotFound) and errors.As to a
// *ConflictError see through it.
type TxnError struct {
	Index int    // position of the refused write in the transaction
	Key   string // its key
	Err   error
}

func (e *TxnError) Error() string {
	return fmt.Sprintf("transaction refused at write %d: %v", e.Index, e.Err)
}

func (e *TxnError) Unwrap() error { return e.Err }
