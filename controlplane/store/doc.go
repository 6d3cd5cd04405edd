// Package store is the control plane's Raft-replicated object store: every API object
// as a key and a value, versioned by the Raft index of its last write.
//
// A Store is one member. Writes go to the leader (followers forward them over the peer
// port), are decided by the FSM in log order (so compare-and-swap is atomic
// cluster-wide) and return once committed and applied on the member that was asked.
// Reads are linearizable on request (the ReadIndex idea) or served from the local FSM.
// Watches read a bounded per-member event history fed by the FSM.
//
// # What callers (the API server) can rely on
//
// Revisions. Entry.Rev is the Raft index of the write that produced the version;
// List's rev and Rev() are the index of the last write this member applied
// (refused compare-and-swaps count: they are log entries too). Revisions grow but
// have gaps. A store that was never written has rev 0, and Watch from 0 means "from
// now", so a List at rev 0 followed by a Watch from 0 can miss a write made between
// them: write something at startup (the default namespaces) before serving lists.
//
// Errors, and what the API answers for them:
//
//	ErrNotFound                  404 NotFound
//	ErrExists (*ConflictError)   409 AlreadyExists
//	ErrConflict (*ConflictError) 409 Conflict ("the object has been modified")
//	ErrCompacted                 410 Gone ("too old resource version"), from Watch or
//	                             as Event.Err on a running watch
//	ErrNoLeader                  503 with Retry-After: no leader reachable within
//	                             Config.LeaderWait. Also wrapped by ErrUncertain
//	                             errors: the write may have been applied (a retried
//	                             create may then see ErrExists).
//	ErrClosed                    503: this member is shutting down
//	context errors               504/timeout: the caller's ctx ended first
//
// Transactions. Txn applies several writes in one log entry, all or none, each decided
// as Create, Update or Delete would be; a refused one gives a *TxnError wrapping that
// write's own error. The API server uses it to claim a Service's addresses under keys
// of their own in the same step as the Service is written.
//
// Consistency. Writes return once committed by a majority (fsync'd on each) and
// applied on the member that was called, so a later Get/List on that member, even
// with consistent=false, sees them. consistent=true reads reflect every write
// acknowledged anywhere before the read began (the leader names a read index after
// confirming its leadership with a quorum; the member waits to have applied it).
// consistent=false reads this member's state as it is, which may lag the leader;
// Kubernetes serves resourceVersion=0 reads like that.
//
// Watches are per member and follow that member's apply order, which is the log order:
// the same on every member. They never slow writes down: a watcher that falls more
// than Config.WatchHistory events behind is ended with ErrCompacted.
//
// Leader work. RunAsLeader's fn runs only while this member leads, after a barrier,
// and its ctx ends when leadership does. During a partition the old leader steps down
// after LeaderLeaseTimeout, before a new one can be elected (ElectionTimeout is
// larger), so leader work normally never overlaps; it is not a fencing guarantee, so
// leader work must, as Kubernetes controllers do, write through compare-and-swap.
//
// Membership. Every member of a new cluster opens with the same Peers and bootstraps
// once; a data dir with state never bootstraps again. A member added later opens with
// no Peers and is added with Join. A member removed with Remove stops taking part
// (its raft shuts down) and should then be closed.
package store
