package store

import (
	"errors"
	"fmt"
)

// Entry is one stored object version.
type Entry struct {
	// Key is /<group>/<resource>/<namespace>/<name> (cluster-scoped: /<group>/<resource>/<name>).
	Key string
	// Value is the object's JSON as the API server wrote it, without a resourceVersion.
	Value []byte
	// Rev is the Raft log index of the write that produced this version: the
	// object's resourceVersion.
	Rev uint64
	// CreateRev is the Raft log index of the write that created the object.
	CreateRev uint64
}

// EventType says what a write did to a key.
type EventType uint8

// The event types, as watch reports them.
const (
	Added EventType = iota + 1
	Modified
	Deleted
)

func (t EventType) String() string {
	switch t {
	case Added:
		return "ADDED"
	case Modified:
		return "MODIFIED"
	case Deleted:
		return "DELETED"
	}
	return fmt.Sprintf("EventType(%d)", uint8(t))
}

// Event is one applied write, as watchers see it.
type Event struct {
	Type EventType
	// Entry is the object after the write; for Deleted, the object's last value with
	// Rev set to the index of the delete.
	Entry Entry
	// Prev is the object's value before the write (nil for Added).
	Prev []byte
	// Err, when set, ends the watch: it is the last value before the channel closes,
	// Type is 0 and Entry is empty. It wraps ErrCompacted (the watcher fell out of the
	// history, or a snapshot replaced the state: start over with a List; the API
	// answers 410 Gone) or ErrClosed.
	Err error
}

// Errors callers can test with errors.Is. Errors returned by the store wrap them with
// the key concerned.
var (
	// ErrNotFound: no object under the key.
	ErrNotFound = errors.New("not found")
	// ErrExists: create of a key that already holds an object.
	ErrExists = errors.New("already exists")
	// ErrConflict: the expected revision is not the current one.
	ErrConflict = errors.New("revision conflict")
	// ErrCompacted: a watch asked to start before the oldest event the history keeps.
	ErrCompacted = errors.New("requested revision is older than the watch history")
	// ErrNoLeader: no leader could be reached in time; the caller may retry.
	ErrNoLeader = errors.New("no raft leader")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("store closed")
)

// Op is one write of a transaction (Store.Txn), made with CreateOp, UpdateOp or DeleteOp.
type Op struct{ c command }

// CreateOp stores value under key, which must hold nothing, as Create does.
func CreateOp(key string, value []byte) Op {
	return Op{command{Op: opCreate, Key: key, Value: value}}
}

// UpdateOp replaces the value under key, as Update does (expectRev 0: any revision).
func UpdateOp(key string, value []byte, expectRev uint64) Op {
	return Op{command{Op: opUpdate, Key: key, Value: value, ExpectRev: expectRev}}
}

// DeleteOp removes the object under key, as Delete does (expectRev 0: any revision).
func DeleteOp(key string, expectRev uint64) Op {
	return Op{command{Op: opDelete, Key: key, ExpectRev: expectRev}}
}

// Key is the key the write is for.
func (o Op) Key() string { return o.c.Key }

// IsDelete reports whether the write is a delete.
func (o Op) IsDelete() bool { return o.c.Op == opDelete }
