package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	iradix "github.com/hashicorp/go-immutable-radix"
	"github.com/hashicorp/raft"
)

// record is one object version inside the FSM. Records are never modified once they
// are in the tree: a write inserts a new one. That is what makes snapshots and lists
// safe to read without holding the FSM lock.
type record struct {
	value          []byte
	rev, createRev uint64
}

func (r *record) entry(key string) Entry {
	return Entry{Key: key, Value: r.value, Rev: r.rev, CreateRev: r.createRev}
}

// resultCode says how the FSM decided a command. It travels in forwarding responses,
// so the values are part of the wire format.
type resultCode uint8

const (
	resultOK resultCode = iota
	resultNotFound
	resultExists
	resultConflict
	resultInvalid // the entry could not be decoded; every member refuses it alike
)

// applyResult is what the FSM returns for a command: the raft future's Response on the
// leader, and the body of a forwarded write's answer.
type applyResult struct {
	Index  uint64 // Raft index of the command
	Code   resultCode
	Entry  Entry  // resultOK: the object after the write (delete: its last value)
	Prev   []byte // resultOK: the value before the write
	CurRev uint64 // resultExists, resultConflict: the object's revision
}

func (r *applyResult) encode() []byte {
	b := make([]byte, 0, 6*binary.MaxVarintLen64+1+len(r.Entry.Key)+len(r.Entry.Value)+len(r.Prev))
	b = binary.AppendUvarint(b, r.Index)
	b = append(b, byte(r.Code))
	b = appendString(b, r.Entry.Key)
	b = appendBytes(b, r.Entry.Value)
	b = binary.AppendUvarint(b, r.Entry.Rev)
	b = binary.AppendUvarint(b, r.Entry.CreateRev)
	b = appendBytes(b, r.Prev)
	return binary.AppendUvarint(b, r.CurRev)
}

func decodeApplyResult(b []byte) (*applyResult, error) {
	d := decoder{b: b}
	r := &applyResult{Index: d.uvarint(), Code: resultCode(d.byte())}
	r.Entry.Key = d.string()
	r.Entry.Value = d.bytes()
	r.Entry.Rev = d.uvarint()
	r.Entry.CreateRev = d.uvarint()
	r.Prev = d.bytes()
	r.CurRev = d.uvarint()
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("decode write result: %w", err)
	}
	return r, nil
}

// err turns a refused command into the error the store returns.
func (r *applyResult) err(o op, key string) error {
	switch r.Code {
	case resultOK:
		return nil
	case resultNotFound:
		return fmt.Errorf("%s %s: %w", o, key, ErrNotFound)
	case resultExists:
		return &ConflictError{Op: o.String(), Key: key, Rev: r.CurRev, Err: ErrExists}
	case resultConflict:
		return &ConflictError{Op: o.String(), Key: key, Rev: r.CurRev, Err: ErrConflict}
	}
	return fmt.Errorf("%s %s: the leader could not decode the command", o, key)
}

// fsm is the replicated state machine: an immutable radix tree of records keyed by
// object key, the index of the last command applied, and the watch history.
//
// Only raft's FSM goroutine writes (ApplyBatch, Restore); everyone else reads under mu,
// briefly, and then works on the immutable tree they got.
type fsm struct {
	log *slog.Logger

	mu   sync.Mutex
	tree *iradix.Tree
	// rev is the index of the last LogCommand applied, refused ones included. It is
	// the same on every member that has applied the same log, which raft's own
	// applied index is not (no-op and barrier entries never reach the FSM), so it is
	// what read indexes and read-your-writes waits are expressed in.
	rev  uint64
	hist history
	// changed is closed and replaced whenever rev moves or the history is reset.
	changed chan struct{}
}

var (
	_ raft.FSM         = (*fsm)(nil)
	_ raft.BatchingFSM = (*fsm)(nil)
)

func newFSM(log *slog.Logger, historySize int) *fsm {
	return &fsm{
		log:     log,
		tree:    iradix.New(),
		hist:    newHistory(historySize),
		changed: make(chan struct{}),
	}
}

// Apply applies one entry; raft uses ApplyBatch, this is for completeness.
func (f *fsm) Apply(l *raft.Log) interface{} {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed entries in one tree transaction and publishes the
// result, the events and the new rev at once, with one wake-up for watchers.
func (f *fsm) ApplyBatch(logs []*raft.Log) []interface{} {
	resp := make([]interface{}, len(logs))
	txn := f.tree.Txn()
	rev := f.rev
	var events []Event
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		rev = l.Index
		if len(l.Data) > 0 && l.Data[0] == txnVersion {
			t, err := decodeTxn(l.Data)
			if err != nil {
				f.log.Error("refusing undecodable raft entry", "index", l.Index, "error", err)
				resp[i] = &txnResult{Index: l.Index, Code: resultInvalid}
				continue
			}
			res, evs := applyTxn(txn, t, l.Index)
			resp[i] = res
			events = append(events, evs...)
			continue
		}
		cmd, err := decodeCommand(l.Data)
		if err != nil {
			f.log.Error("refusing undecodable raft entry", "index", l.Index, "error", err)
			resp[i] = &applyResult{Index: l.Index, Code: resultInvalid}
			continue
		}
		res, ev := applyCommand(txn, cmd, l.Index)
		resp[i] = res
		if ev != nil {
			events = append(events, *ev)
		}
	}
	if rev == f.rev {
		return resp
	}
	tree := txn.CommitOnly()
	f.mu.Lock()
	f.tree = tree
	f.rev = rev
	for _, ev := range events {
		f.hist.append(ev)
	}
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
	return resp
}

// applyCommand decides one command against the transaction. The compare-and-swap
// happens here, in log order on every member, which is what makes it atomic
// cluster-wide.
func applyCommand(txn *iradix.Txn, c command, index uint64) (*applyResult, *Event) {
	k := []byte(c.Key)
	var cur *record
	if v, ok := txn.Get(k); ok {
		cur = v.(*record)
	}
	res := &applyResult{Index: index}
	if res.Code, res.CurRev = decide(c, cur); res.Code != resultOK {
		return res, nil
	}
	switch c.Op {
	case opCreate:
		rec := &record{value: c.Value, rev: index, createRev: index}
		txn.Insert(k, rec)
		res.Entry = rec.entry(c.Key)
		return res, &Event{Type: Added, Entry: res.Entry}
	case opUpdate, opDelete:
		res.Prev = cur.value
		if c.Op == opDelete {
			txn.Delete(k)
			res.Entry = Entry{Key: c.Key, Value: cur.value, Rev: index, CreateRev: cur.createRev}
			return res, &Event{Type: Deleted, Entry: res.Entry, Prev: cur.value}
		}
		rec := &record{value: c.Value, rev: index, createRev: cur.createRev}
		txn.Insert(k, rec)
		res.Entry = rec.entry(c.Key)
		return res, &Event{Type: Modified, Entry: res.Entry, Prev: cur.value}
	}
	res.Code = resultInvalid
	return res, nil
}

// decide is the compare-and-swap of one write against the object it finds (nil: none):
// resultOK, or why the write is refused and the object's revision.
func decide(c command, cur *record) (resultCode, uint64) {
	switch c.Op {
	case opCreate:
		if cur != nil {
			return resultExists, cur.rev
		}
		return resultOK, 0
	case opUpdate, opDelete:
		if cur == nil {
			return resultNotFound, 0
		}
		if c.ExpectRev != 0 && c.ExpectRev != cur.rev {
			return resultConflict, cur.rev
		}
		return resultOK, 0
	}
	return resultInvalid, 0
}

// applyTxn decides a transaction: every write is checked against the state before it
// (their keys are distinct, so none depends on another), and only if all pass are
// they applied, each as applyCommand would, all at the transaction's index.
func applyTxn(txn *iradix.Txn, t txnCommand, index uint64) (*txnResult, []Event) {
	res := &txnResult{Index: index}
	for i, w := range t.Writes {
		var cur *record
		if v, ok := txn.Get([]byte(w.Key)); ok {
			cur = v.(*record)
		}
		if code, rev := decide(w, cur); code != resultOK {
			res.Code, res.Failed, res.CurRev = code, uint64(i), rev
			return res, nil
		}
	}
	events := make([]Event, 0, len(t.Writes))
	res.Entries = make([]Entry, 0, len(t.Writes))
	for _, w := range t.Writes {
		r, ev := applyCommand(txn, w, index)
		res.Entries = append(res.Entries, r.Entry)
		if ev != nil {
			events = append(events, *ev)
		}
	}
	return res, events
}

// txnResult is what the FSM returns for a transaction, and the body of a forwarded
// transaction's answer.
type txnResult struct {
	Index uint64 // Raft index of the transaction
	Code  resultCode
	// Failed is the position of the write that was refused (Code not resultOK), and
	// CurRev the revision of its object (resultExists, resultConflict).
	Failed, CurRev uint64
	// Entries are the objects after the writes, in order (a delete: the last value,
	// with Rev the transaction's index).
	Entries []Entry
}

func (r *txnResult) encode() []byte {
	n := 5*binary.MaxVarintLen64 + 1
	for _, e := range r.Entries {
		n += 4*binary.MaxVarintLen64 + len(e.Key) + len(e.Value)
	}
	b := make([]byte, 0, n)
	b = binary.AppendUvarint(b, r.Index)
	b = append(b, byte(r.Code))
	b = binary.AppendUvarint(b, r.Failed)
	b = binary.AppendUvarint(b, r.CurRev)
	b = binary.AppendUvarint(b, uint64(len(r.Entries)))
	for _, e := range r.Entries {
		b = appendString(b, e.Key)
		b = appendBytes(b, e.Value)
		b = binary.AppendUvarint(b, e.Rev)
		b = binary.AppendUvarint(b, e.CreateRev)
	}
	return b
}

func decodeTxnResult(b []byte) (*txnResult, error) {
	d := decoder{b: b}
	r := &txnResult{Index: d.uvarint(), Code: resultCode(d.byte())}
	r.Failed = d.uvarint()
	r.CurRev = d.uvarint()
	n := d.uvarint()
	if n > maxTxnWrites {
		d.fail()
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		e := Entry{Key: d.string(), Value: d.bytes()}
		e.Rev = d.uvarint()
		e.CreateRev = d.uvarint()
		r.Entries = append(r.Entries, e)
	}
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("decode transaction result: %w", err)
	}
	return r, nil
}

// err turns a refused transaction into the error the store returns: a *TxnError
// naming the write that was refused, wrapping what that write alone would have got.
func (r *txnResult) err(t txnCommand) error {
	if r.Code == resultOK {
		return nil
	}
	if r.Code == resultInvalid || r.Failed >= uint64(len(t.Writes)) {
		return errors.New("transaction: the leader could not decode it")
	}
	w := t.Writes[r.Failed]
	one := applyResult{Code: r.Code, CurRev: r.CurRev}
	return &TxnError{Index: int(r.Failed), Key: w.Key, Err: one.err(w.Op, w.Key)}
}

// view is a consistent read-only state: the tree and the rev it reflects.
func (f *fsm) view() (*iradix.Tree, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tree, f.rev
}

func (f *fsm) get(key string) (Entry, bool) {
	tree, _ := f.view()
	v, ok := tree.Get([]byte(key))
	if !ok {
		return Entry{}, false
	}
	return v.(*record).entry(key), true
}

func (f *fsm) list(prefix string) ([]Entry, uint64) {
	tree, rev := f.view()
	var out []Entry
	tree.Root().WalkPrefix([]byte(prefix), func(k []byte, v interface{}) bool {
		out = append(out, v.(*record).entry(string(k)))
		return false
	})
	return out, rev
}

// current returns the rev and the channel closed at its next change.
func (f *fsm) current() (uint64, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rev, f.changed
}

// Snapshot is cheap: the tree is immutable, so the snapshot is its root.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	tree, rev := f.view()
	return &fsmSnapshot{tree: tree, rev: rev}, nil
}

// The snapshot file: magic, then uvarint rev and uvarint count, then count records of
// key, value, rev, createRev (length-prefixed as in commands). The file snapshot
// store checksums the file, so there is no checksum of our own.
var snapshotMagic = []byte("kindlike-store-snapshot-v1\n")

type fsmSnapshot struct {
	tree *iradix.Tree
	rev  uint64
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.write(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot at rev %d: %w", s.rev, err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) write(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	var buf []byte
	buf = append(buf, snapshotMagic...)
	buf = binary.AppendUvarint(buf, s.rev)
	buf = binary.AppendUvarint(buf, uint64(s.tree.Len()))
	if _, err := bw.Write(buf); err != nil {
		return err
	}
	var err error
	s.tree.Root().Walk(func(k []byte, v interface{}) bool {
		r := v.(*record)
		buf = appendBytes(buf[:0], k)
		buf = appendBytes(buf, r.value)
		buf = binary.AppendUvarint(buf, r.rev)
		buf = binary.AppendUvarint(buf, r.createRev)
		_, err = bw.Write(buf)
		return err != nil
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

func (s *fsmSnapshot) Release() {}

// Restore replaces the state with a snapshot. The watch history cannot bridge the gap,
// so it restarts at the snapshot's rev: watchers are ended with ErrCompacted.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	tree, rev, err := readSnapshot(bufio.NewReaderSize(rc, 256<<10))
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	f.mu.Lock()
	f.tree = tree
	f.rev = rev
	f.hist.reset(rev)
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
	f.log.Info("restored snapshot", "rev", rev, "objects", tree.Len())
	return nil
}

func readSnapshot(r *bufio.Reader) (*iradix.Tree, uint64, error) {
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != string(snapshotMagic) {
		return nil, 0, errors.New("not a kindlike store snapshot")
	}
	rev, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, 0, err
	}
	count, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, 0, err
	}
	txn := iradix.New().Txn()
	for i := uint64(0); i < count; i++ {
		key, err := readField(r)
		if err != nil {
			return nil, 0, fmt.Errorf("record %d: %w", i, err)
		}
		value, err := readField(r)
		if err != nil {
			return nil, 0, fmt.Errorf("record %d: %w", i, err)
		}
		rec := &record{value: value}
		if rec.rev, err = binary.ReadUvarint(r); err != nil {
			return nil, 0, fmt.Errorf("record %d: %w", i, err)
		}
		if rec.createRev, err = binary.ReadUvarint(r); err != nil {
			return nil, 0, fmt.Errorf("record %d: %w", i, err)
		}
		txn.Insert(key, rec)
	}
	return txn.CommitOnly(), rev, nil
}

// maxField bounds one length-prefixed field read from a snapshot or a frame, so a
// corrupt length cannot make us allocate without limit.
const maxField = 64 << 20

func readField(r *bufio.Reader) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > maxField {
		return nil, fmt.Errorf("field of %d bytes is too large", n)
	}
	if n == 0 {
		return nil, nil
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r, b)
	return b, err
}
