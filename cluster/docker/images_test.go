package docker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckStatic(t *testing.T) {
	// A dynamically linked binary, as `go build` makes with cgo on.
	if dyn := "/bin/ls"; fileIsELF(dyn) {
		err := checkStatic(dyn)
		if err == nil || !strings.Contains(err.Error(), "dynamically linked") || !strings.Contains(err.Error(), "make build") {
			t.Errorf("%s: %v; want it refused as dynamically linked, saying to run make build", dyn, err)
		}
	}
	script := filepath.Join(t.TempDir(), "kindlike")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755)
	if err := checkStatic(script); err == nil || !strings.Contains(err.Error(), "not a Linux executable") {
		t.Errorf("script: %v", err)
	}
	if bin := os.Getenv("KINDLIKE_BIN"); bin != "" {
		if err := checkStatic(bin); err != nil {
			t.Errorf("KINDLIKE_BIN (made by make build): %v", err)
		}
	}
}

func fileIsELF(path string) bool {
	b := make([]byte, 4)
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = f.Read(b)
	return err == nil && string(b) == "\x7fELF"
}

func TestBuildContext(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "kindlike")
	os.WriteFile(bin, []byte("binary"), 0o755)
	var buf strings.Builder
	if err := writeBuildContext(&buf, bin); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Dockerfile", "FROM scratch", "rootfs/kindlike", "rootfs/tmp/", "binary"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("build context lacks %q", want)
		}
	}
}
