package store

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A command is one write as it travels through the Raft log. The encoding is ours and
// deliberately small: every member decodes every entry, and the log and the forwarding
// RPC both carry it, so it must stay stable across versions and cheap to parse.
//
//	byte    version (commandVersion)
//	byte    op
//	uvarint len(key), key bytes
//	uvarint len(value), value bytes
//	uvarint expectRev
//
// Nothing may follow expectRev: trailing bytes mean a newer or corrupt encoding, and
// the FSM must refuse it on every member alike rather than guess.
//
// A transaction (txnVersion) is several such writes decided together, all or none:
//
//	byte    version (txnVersion)
//	uvarint number of writes, 1 to maxTxnWrites
//	then per write: byte op, key, value and expectRev as above
//
// Its keys are distinct. Single writes keep the version-1 form, so logs written before
// transactions existed read the same, and a transaction is only ever what a caller
// asked for as one.
type command struct {
	Op        op
	Key       string
	Value     []byte
	ExpectRev uint64
}

// commandVersion is the first byte of every encoded single write, txnVersion of every
// transaction. Add a version, and keep decoding the old ones, whenever a layout changes.
const (
	commandVersion = 1
	txnVersion     = 2
)

// maxTxnWrites bounds the writes of one transaction: a Service with its allocations
// needs a handful; the bound only keeps a corrupt count from allocating without limit.
const maxTxnWrites = 4096

type op uint8

const (
	opCreate op = iota + 1
	opUpdate
	opDelete
)

func (o op) String() string {
	switch o {
	case opCreate:
		return "create"
	case opUpdate:
		return "update"
	case opDelete:
		return "delete"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

func (o op) valid() bool { return o >= opCreate && o <= opDelete }

var errBadEncoding = errors.New("malformed encoding")

func (c command) encode() []byte {
	b := make([]byte, 0, 2+3*binary.MaxVarintLen64+len(c.Key)+len(c.Value))
	b = append(b, commandVersion)
	return c.appendWrite(b)
}

// decodeCommand parses an encoded command. It copies what it keeps, so the caller may
// reuse b. An empty value decodes as nil.
func decodeCommand(b []byte) (command, error) {
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != commandVersion {
		return command{}, fmt.Errorf("decode command: unknown version %d", v)
	}
	c := command{Op: op(d.byte())}
	c.Key = d.string()
	c.Value = d.bytes()
	c.ExpectRev = d.uvarint()
	if err := d.finish(); err != nil {
		return command{}, fmt.Errorf("decode command: %w", err)
	}
	if !c.Op.valid() {
		return command{}, fmt.Errorf("decode command: unknown op %d", uint8(c.Op))
	}
	if c.Key == "" {
		return command{}, errors.New("decode command: empty key")
	}
	return c, nil
}

func (c command) appendWrite(b []byte) []byte {
	b = append(b, byte(c.Op))
	b = appendString(b, c.Key)
	b = appendBytes(b, c.Value)
	return binary.AppendUvarint(b, c.ExpectRev)
}

// txnCommand is a transaction: its writes are applied together, in one log entry, or
// none of them is.
type txnCommand struct {
	Writes []command
}

func (t txnCommand) encode() []byte {
	n := 1 + binary.MaxVarintLen64
	for _, w := range t.Writes {
		n += 1 + 3*binary.MaxVarintLen64 + len(w.Key) + len(w.Value)
	}
	b := make([]byte, 0, n)
	b = append(b, txnVersion)
	b = binary.AppendUvarint(b, uint64(len(t.Writes)))
	for _, w := range t.Writes {
		b = w.appendWrite(b)
	}
	return b
}

// decodeTxn parses an encoded transaction, copying what it keeps.
func decodeTxn(b []byte) (txnCommand, error) {
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != txnVersion {
		return txnCommand{}, fmt.Errorf("decode transaction: unknown version %d", v)
	}
	n := d.uvarint()
	if d.err == nil && (n == 0 || n > maxTxnWrites) {
		return txnCommand{}, fmt.Errorf("decode transaction: %d writes (want 1 to %d)", n, maxTxnWrites)
	}
	var t txnCommand
	seen := make(map[string]bool)
	for i := uint64(0); i < n && d.err == nil; i++ {
		c := command{Op: op(d.byte())}
		c.Key = d.string()
		c.Value = d.bytes()
		c.ExpectRev = d.uvarint()
		if d.err != nil {
			break
		}
		if !c.Op.valid() {
			return txnCommand{}, fmt.Errorf("decode transaction: write %d: unknown op %d", i, uint8(c.Op))
		}
		if c.Key == "" {
			return txnCommand{}, fmt.Errorf("decode transaction: write %d: empty key", i)
		}
		if seen[c.Key] {
			return txnCommand{}, fmt.Errorf("decode transaction: write %d: key %s written twice", i, c.Key)
		}
		seen[c.Key] = true
		t.Writes = append(t.Writes, c)
	}
	if err := d.finish(); err != nil {
		return txnCommand{}, fmt.Errorf("decode transaction: %w", err)
	}
	return t, nil
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads the primitives of our encodings. The first error sticks and every
// later read returns a zero value, so callers check once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errBadEncoding
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// raw returns the next length-prefixed field without copying.
func (d *decoder) raw() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	v := d.raw()
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

func (d *decoder) string() string { return string(d.raw()) }

// finish reports the first error, or trailing bytes if everything parsed.
func (d *decoder) finish() error {
	if d.err == nil && len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", errBadEncoding, len(d.b))
	}
	return d.err
}
