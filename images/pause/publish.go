package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The names of kubelet's atomic writer layout, in a volume's directory: the files
// live in a generation directory named for the time it was written ("..2024_...");
// "..data" links to the current generation, and every name the pod sees links
// through "..data" ("key" -> "..data/key"). Keys and paths can never start with "..",
// so these names cannot collide with a pod's files.
const (
	dataLink    = "..data"
	dataLinkTmp = "..data_tmp"
	linkTmp     = "..link_tmp"
)

// oldGenerationGrace is how long a replaced generation stays after the swap: a
// reader that resolved "..data" just before it may still be walking the rest of its
// path into the old directory.
const oldGenerationGrace = 100 * time.Millisecond

// publish makes generation (a directory the agent has just written beside the
// volume's current one) the volume's content, as kubelet's atomic writer does: one
// rename swaps "..data" to it, so a reader sees either every old file or every new
// one, never a mix or a half-written file; names new in this generation then get
// their links, names gone from it lose theirs, and older generations are removed.
//
// The agent runs it in the pod's pause container (`pause -publish-volume DIR`), the
// only place where it can reach the volume's files.
func publish(generation string) error {
	generation = filepath.Clean(generation)
	dir, gen := filepath.Split(generation)
	if !strings.HasPrefix(gen, "..") || gen == dataLink || gen == dataLinkTmp || gen == linkTmp {
		return fmt.Errorf("%s is not a generation directory (..<time>)", generation)
	}
	if fi, err := os.Lstat(generation); err != nil {
		return err
	} else if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", generation)
	}
	entries, err := os.ReadDir(generation)
	if err != nil {
		return err
	}

	tmp := filepath.Join(dir, dataLinkTmp)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Symlink(gen, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataLink)); err != nil {
		return fmt.Errorf("swap %s: %w", dataLink, err)
	}

	names := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "..") {
			continue
		}
		names[name] = true
		if err := link(dir, name); err != nil {
			return err
		}
	}

	time.Sleep(oldGenerationGrace)
	all, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range all {
		name := e.Name()
		if name == dataLink || name == gen || names[name] {
			continue
		}
		// An older generation, a leftover temporary link, or the link of a name
		// the new generation no longer has.
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// link makes dir/name the link "..data/name" unless it is already; whatever else is
// there is replaced.
func link(dir, name string) error {
	p, target := filepath.Join(dir, name), dataLink+"/"+name
	t, err := os.Readlink(p)
	switch {
	case err == nil && t == target:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return os.Symlink(target, p)
	}
	// Something else (a layout written another way): replace it in one rename
	// where it can be, else remove it first.
	tmp := filepath.Join(dir, linkTmp)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err == nil {
		return nil
	}
	if err := os.RemoveAll(p); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}
