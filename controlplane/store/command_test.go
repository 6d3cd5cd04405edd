package store

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

func sameCommand(a, b command) bool {
	return a.Op == b.Op && a.Key == b.Key && bytes.Equal(a.Value, b.Value) && a.ExpectRev == b.ExpectRev
}

func TestCommandRoundTrip(t *testing.T) {
	tests := []command{
		{Op: opCreate, Key: "/v1/pods/default/web-0", Value: []byte(`{"kind":"Pod"}`)},
		{Op: opUpdate, Key: "/k", Value: []byte{0, 1, 2, 255}, ExpectRev: 42},
		{Op: opUpdate, Key: "/k", ExpectRev: math.MaxUint64},
		{Op: opDelete, Key: "/apps/deployments/" + strings.Repeat("x", 300)},
		{Op: opCreate, Key: "/big", Value: bytes.Repeat([]byte("v"), 1<<20)},
	}
	for _, c := range tests {
		got, err := decodeCommand(c.encode())
		if err != nil || !sameCommand(got, c) {
			t.Errorf("decode(encode(%s %.40s)): %v; got %s %.40s rev %d", c.Op, c.Key, err, got.Op, got.Key, got.ExpectRev)
		}
	}
}

func TestCommandDecodeRejects(t *testing.T) {
	valid := command{Op: opUpdate, Key: "/k", Value: []byte("v"), ExpectRev: 7}.encode()
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version only", []byte{commandVersion}},
		{"unknown version", append([]byte{99}, valid[1:]...)},
		{"unknown op", append([]byte{commandVersion, 9}, valid[2:]...)},
		{"op zero", append([]byte{commandVersion, 0}, valid[2:]...)},
		{"truncated", valid[:len(valid)-1]},
		{"trailing byte", append(append([]byte(nil), valid...), 0)},
		{"key longer than data", []byte{commandVersion, byte(opCreate), 0xff, 0x01, 'k'}},
		{"huge length", []byte{commandVersion, byte(opCreate), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"empty key", command{Op: opCreate}.encode()},
	}
	for _, tt := range tests {
		if c, err := decodeCommand(tt.b); err == nil {
			t.Errorf("%s: decoded %+v", tt.name, c)
		}
	}
}

func TestApplyResultRoundTrip(t *testing.T) {
	tests := []applyResult{
		{Index: 9, Code: resultOK, Entry: Entry{Key: "/k", Value: []byte("v"), Rev: 9, CreateRev: 3}, Prev: []byte("u")},
		{Index: 10, Code: resultConflict, CurRev: 9},
		{Index: 11, Code: resultNotFound},
	}
	for _, r := range tests {
		got, err := decodeApplyResult(r.encode())
		if err != nil || got.Index != r.Index || got.Code != r.Code || got.CurRev != r.CurRev ||
			got.Entry.Key != r.Entry.Key || !bytes.Equal(got.Entry.Value, r.Entry.Value) ||
			got.Entry.Rev != r.Entry.Rev || got.Entry.CreateRev != r.Entry.CreateRev || !bytes.Equal(got.Prev, r.Prev) {
			t.Errorf("round trip of %+v: %+v, %v", r, got, err)
		}
	}
}

// FuzzCommandDecode: decoding arbitrary bytes, as a single write or a transaction,
// never panics; whatever decodes encodes back to something that decodes the same; and
// any valid command or transaction survives a round trip.
func FuzzCommandDecode(f *testing.F) {
	f.Add(command{Op: opCreate, Key: "/v1/pods/a/b", Value: []byte("{}")}.encode(), uint8(1), "/k", []byte("v"), uint64(0))
	f.Add(command{Op: opDelete, Key: "/k", ExpectRev: 1 << 40}.encode(), uint8(3), "/x", []byte(nil), uint64(5))
	f.Add([]byte{commandVersion, 2, 0x80}, uint8(2), "", []byte{0}, uint64(math.MaxUint64))
	f.Add(txnCommand{Writes: []command{
		{Op: opCreate, Key: "/v1/services/a/b", Value: []byte("{}")},
		{Op: opCreate, Key: "/kindlike/allocations/serviceips/10.96.0.9", Value: []byte("a/b")},
	}}.encode(), uint8(1), "/k", []byte("v"), uint64(3))
	f.Add([]byte{txnVersion, 2, 1, 1, 'k', 0, 0}, uint8(3), "/k", []byte(nil), uint64(0))
	f.Fuzz(func(t *testing.T, data []byte, o uint8, key string, value []byte, rev uint64) {
		if c, err := decodeCommand(data); err == nil {
			again, err := decodeCommand(c.encode())
			if err != nil || !sameCommand(again, c) {
				t.Fatalf("re-encoding %+v gave %+v, %v", c, again, err)
			}
		}
		if tx, err := decodeTxn(data); err == nil {
			again, err := decodeTxn(tx.encode())
			if err != nil || !sameTxn(again, tx) {
				t.Fatalf("re-encoding %+v gave %+v, %v", tx, again, err)
			}
		}
		c := command{Op: op(o), Key: key, Value: value, ExpectRev: rev}
		got, err := decodeCommand(c.encode())
		valid := c.Op.valid() && key != ""
		if valid != (err == nil) {
			t.Fatalf("decode(encode(%+v)): %v", c, err)
		}
		if err == nil && !sameCommand(got, c) {
			t.Fatalf("decode(encode(%+v)) = %+v", c, got)
		}
		// The same write in a transaction, after a claim of another key.
		tx := txnCommand{Writes: []command{{Op: opCreate, Key: "/claim" + key}, c}}
		gotTx, err := decodeTxn(tx.encode())
		if valid != (err == nil) {
			t.Fatalf("decodeTxn(encode(%+v)): %v", tx, err)
		}
		if err == nil && !sameTxn(gotTx, tx) {
			t.Fatalf("decodeTxn(encode(%+v)) = %+v", tx, gotTx)
		}
	})
}

func sameTxn(a, b txnCommand) bool {
	if len(a.Writes) != len(b.Writes) {
		return false
	}
	for i := range a.Writes {
		if !sameCommand(a.Writes[i], b.Writes[i]) {
			return false
		}
	}
	return true
}

func TestTxnRoundTrip(t *testing.T) {
	tests := []txnCommand{
		{Writes: []command{{Op: opCreate, Key: "/v1/services/default/web", Value: []byte(`{"kind":"Service"}`)}}},
		{Writes: []command{
			{Op: opUpdate, Key: "/v1/services/default/web", Value: []byte("v"), ExpectRev: 42},
			{Op: opCreate, Key: "/kindlike/allocations/serviceips/10.96.0.5", Value: []byte("owner")},
			{Op: opDelete, Key: "/kindlike/allocations/servicenodeports/30001", ExpectRev: math.MaxUint64},
		}},
	}
	for _, tt := range tests {
		b := tt.encode()
		if b[0] != txnVersion {
			t.Fatalf("transaction encoded with version %d", b[0])
		}
		got, err := decodeTxn(b)
		if err != nil || !sameTxn(got, tt) {
			t.Errorf("decode(encode(%+v)) = %+v, %v", tt, got, err)
		}
		// A transaction is never mistaken for a single write, nor the other way round.
		if c, err := decodeCommand(b); err == nil {
			t.Errorf("transaction decoded as the command %+v", c)
		}
	}
	if tx, err := decodeTxn(command{Op: opCreate, Key: "/k"}.encode()); err == nil {
		t.Errorf("command decoded as the transaction %+v", tx)
	}
}

func TestTxnDecodeRejects(t *testing.T) {
	w := command{Op: opCreate, Key: "/k", Value: []byte("v")}
	valid := txnCommand{Writes: []command{w}}.encode()
	dup := txnCommand{Writes: []command{w, w}}.encode()
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version only", []byte{txnVersion}},
		{"no writes", []byte{txnVersion, 0}},
		{"too many writes", binary.AppendUvarint([]byte{txnVersion}, maxTxnWrites+1)},
		{"count larger than data", append([]byte{txnVersion, 2}, valid[2:]...)},
		{"truncated", valid[:len(valid)-1]},
		{"trailing byte", append(append([]byte(nil), valid...), 0)},
		{"unknown op", append([]byte{txnVersion, 1, 9}, valid[3:]...)},
		{"empty key", txnCommand{Writes: []command{{Op: opDelete}}}.encode()},
		{"key written twice", dup},
	}
	for _, tt := range tests {
		if tx, err := decodeTxn(tt.b); err == nil {
			t.Errorf("%s: decoded %+v", tt.name, tx)
		}
	}
}

func TestTxnResultRoundTrip(t *testing.T) {
	tests := []txnResult{
		{Index: 9, Code: resultOK, Entries: []Entry{{Key: "/a", Value: []byte("v"), Rev: 9, CreateRev: 9}, {Key: "/b", Rev: 9, CreateRev: 3}}},
		{Index: 10, Code: resultExists, Failed: 2, CurRev: 7},
		{Index: 11, Code: resultInvalid},
	}
	for _, r := range tests {
		got, err := decodeTxnResult(r.encode())
		if err != nil || got.Index != r.Index || got.Code != r.Code || got.Failed != r.Failed || got.CurRev != r.CurRev || len(got.Entries) != len(r.Entries) {
			t.Fatalf("round trip of %+v: %+v, %v", r, got, err)
		}
		for i, e := range r.Entries {
			g := got.Entries[i]
			if g.Key != e.Key || !bytes.Equal(g.Value, e.Value) || g.Rev != e.Rev || g.CreateRev != e.CreateRev {
				t.Errorf("entry %d: %+v, want %+v", i, g, e)
			}
		}
	}
}
