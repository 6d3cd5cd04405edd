package progress

import (
	"bytes"
	"testing"
)

func TestStatusWithoutTerminal(t *testing.T) {
	var buf bytes.Buffer
	s := New(&buf)
	s.Start("building node image")
	s.Update("node image x (already built)")
	s.Start("creating network") // ends the previous step well
	s.Printf("WARNING: %s", "something")
	s.End(false)
	s.End(true) // nothing running: no output
	s.Done("cleaned up")
	want := " ✓ node image x (already built)\nWARNING: something\n ✗ creating network\n ✓ cleaned up\n"
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}
}
