package store

import (
	"bytes"
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

// FuzzCommandDecode: decoding arbitrary bytes never panics, whatever decodes encodes
// back to something that decodes the same, and any valid command survives a round trip.
func FuzzCommandDecode(f *testing.F) {
	f.Add(command{Op: opCreate, Key: "/v1/pods/a/b", Value: []byte("{}")}.encode(), uint8(1), "/k", []byte("v"), uint64(0))
	f.Add(command{Op: opDelete, Key: "/k", ExpectRev: 1 << 40}.encode(), uint8(3), "/x", []byte(nil), uint64(5))
	f.Add([]byte{commandVersion, 2, 0x80}, uint8(2), "", []byte{0}, uint64(math.MaxUint64))
	f.Fuzz(func(t *testing.T, data []byte, o uint8, key string, value []byte, rev uint64) {
		if c, err := decodeCommand(data); err == nil {
			again, err := decodeCommand(c.encode())
			if err != nil || !sameCommand(again, c) {
				t.Fatalf("re-encoding %+v gave %+v, %v", c, again, err)
			}
		}
		c := command{Op: op(o), Key: key, Value: value, ExpectRev: rev}
		got, err := decodeCommand(c.encode())
		if valid := c.Op.valid() && key != ""; valid != (err == nil) {
			t.Fatalf("decode(encode(%+v)): %v", c, err)
		}
		if err == nil && !sameCommand(got, c) {
			t.Fatalf("decode(encode(%+v)) = %+v", c, got)
		}
	})
}
