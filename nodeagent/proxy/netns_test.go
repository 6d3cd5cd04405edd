package proxy

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// requireRoot fails, never skips: these tests are the proof the rules work in a
// kernel, and a silent skip would hide that they did not run.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (it creates network namespaces named kindlike-test-*): run `sudo go test ./nodeagent/proxy/`")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("this test needs iproute2's `ip` to build network namespaces: install iproute2")
	}
}

// sh runs an ip(8) command, failing the test with its output.
func sh(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newNetns makes a named network namespace that is deleted when the test ends,
// however it ends.
func newNetns(t *testing.T, role string) (name string, h netns.NsHandle) {
	t.Helper()
	name = fmt.Sprintf("kindlike-test-%d-%s", os.Getpid(), role)
	sh(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("delete netns %s: %v\n%s", name, err, out)
		}
	})
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("open netns %s (network namespaces unsupported?): %v", name, err)
	}
	t.Cleanup(func() { h.Close() })
	sh(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name, h
}

// inNetns runs f on a thread switched into ns; sockets f creates stay in ns.
func inNetns(t *testing.T, ns netns.NsHandle, f func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatalf("get current netns: %v", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		t.Fatalf("enter netns: %v", err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			// The thread is unusable; keep it locked so it dies with the goroutine.
			runtime.LockOSThread()
			t.Errorf("leave netns: %v", err)
		}
	}()
	f()
}
