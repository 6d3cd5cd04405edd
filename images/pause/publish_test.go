package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// writeGeneration writes files (name -> content; a name with a slash makes a
// directory) into a new generation directory of dir, as the agent's copy does.
func writeGeneration(t *testing.T, dir, gen string, files map[string]string) string {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, gen, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, gen), 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, gen)
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if e.Type()&os.ModeSymlink != 0 {
			target, _ := os.Readlink(filepath.Join(dir, name))
			name += " -> " + target
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func TestPublishLayout(t *testing.T) {
	dir := t.TempDir()
	gen1 := writeGeneration(t, dir, "..2024_01_01_00_00_00.1", map[string]string{"a": "1", "b": "1", "deep/c": "1"})
	if err := publish(gen1); err != nil {
		t.Fatal(err)
	}
	want := []string{"..2024_01_01_00_00_00.1", "..data -> ..2024_01_01_00_00_00.1", "a -> ..data/a", "b -> ..data/b", "deep -> ..data/deep"}
	if got := listDir(t, dir); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("after the first generation:\n%q\nwant\n%q", got, want)
	}

	// b removed, e added, a changed: the old generation goes, b's link goes, e's comes.
	gen2 := writeGeneration(t, dir, "..2024_01_01_00_00_01.2", map[string]string{"a": "2", "deep/c": "2", "e": "2"})
	if err := publish(gen2); err != nil {
		t.Fatal(err)
	}
	want = []string{"..2024_01_01_00_00_01.2", "..data -> ..2024_01_01_00_00_01.2", "a -> ..data/a", "deep -> ..data/deep", "e -> ..data/e"}
	if got := listDir(t, dir); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("after the second generation:\n%q\nwant\n%q", got, want)
	}
	for name, want := range map[string]string{"a": "2", "deep/c": "2", "e": "2"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != want {
			t.Errorf("%s: %q %v, want %q", name, b, err, want)
		}
	}
}

// TestPublishReplacesOtherLayouts: a name that is a plain file or directory (a
// volume written without the publisher) becomes a link.
func TestPublishReplacesOtherLayouts(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), []byte("plain"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "deep", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	gen := writeGeneration(t, dir, "..2024_01_01_00_00_00.1", map[string]string{"a": "new", "deep/c": "new"})
	if err := publish(gen); err != nil {
		t.Fatal(err)
	}
	want := []string{"..2024_01_01_00_00_00.1", "..data -> ..2024_01_01_00_00_00.1", "a -> ..data/a", "deep -> ..data/deep"}
	if got := listDir(t, dir); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%q\nwant\n%q", got, want)
	}
}

func TestPublishRefusesOtherPaths(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "..file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "key"), filepath.Join(dir, "..data"), filepath.Join(dir, "..file"), filepath.Join(dir, "..missing")} {
		if err := publish(p); err == nil {
			t.Errorf("publish %s succeeded", p)
		}
	}
}

// TestPublishIsAtomic reads the files in a loop while generations are published:
// every read sees one whole generation, never a missing file or a mix.
func TestPublishIsAtomic(t *testing.T) {
	dir := t.TempDir()
	content := func(i int) string { return fmt.Sprintf("generation %d %s end", i, strings.Repeat("x", 64<<10)) }
	if err := publish(writeGeneration(t, dir, "..gen0", map[string]string{"a": content(0), "b": content(0)})); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				a, err := os.ReadFile(filepath.Join(dir, "a"))
				if err != nil {
					errs <- err
					return
				}
				if s := string(a); !strings.HasPrefix(s, "generation ") || !strings.HasSuffix(s, " end") {
					errs <- fmt.Errorf("a partial file: %d bytes", len(s))
					return
				}
				reads.Add(1)
			}
		}()
	}
	for i := 1; i <= 20; i++ {
		if err := publish(writeGeneration(t, dir, fmt.Sprintf("..gen%d", i), map[string]string{"a": content(i), "b": content(i)})); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if reads.Load() < 100 {
		t.Errorf("only %d reads during the updates: the test proves little", reads.Load())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "b")); string(b) != content(20) {
		t.Errorf("b is not the last generation's")
	}
}
