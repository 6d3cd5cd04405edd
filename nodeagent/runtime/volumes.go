package runtime

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/volume"
)

// VolumeSpec is a Docker volume holding one pod volume.
type VolumeSpec struct {
	Pod  PodRef
	Name string // the pod volume's name
	// Memory backs the volume with tmpfs (emptyDir medium Memory); SizeLimit caps it.
	Memory    bool
	SizeLimit int64
}

// VolumeName is the Docker volume of a pod volume, named like the pod's containers.
func VolumeName(pod PodRef, volume string) string {
	return fmt.Sprintf("k8s_%s_%s_%s_%s", volume, pod.Name, pod.Namespace, pod.UID)
}

// HostPathVolumeName is the node's own disk, where hostPath volumes live: a Docker
// volume per node, so a hostPath is on the simulated node and not on the host.
func HostPathVolumeName(node string) string { return node + "-hostpath" }

// EnsureVolume creates the pod volume's Docker volume unless it exists.
func (r *Runtime) EnsureVolume(ctx context.Context, s VolumeSpec) (string, error) {
	name := VolumeName(s.Pod, s.Name)
	if _, err := r.docker.VolumeInspect(ctx, name); err == nil {
		return name, nil
	}
	labels := r.baseLabels(s.Pod)
	labels[LabelVolume] = s.Name
	opts := volume.CreateOptions{Name: name, Driver: "local", Labels: labels}
	if s.Memory {
		o := "mode=1777"
		if s.SizeLimit > 0 {
			o += ",size=" + strconv.FormatInt(s.SizeLimit, 10)
		}
		opts.DriverOpts = map[string]string{"type": "tmpfs", "device": "tmpfs", "o": o}
	}
	if _, err := r.docker.VolumeCreate(ctx, opts); err != nil {
		return "", fmt.Errorf("create volume %s: %w", name, err)
	}
	return name, nil
}

// EnsureHostPathVolume creates the node's hostPath volume unless it exists, and
// returns where the engine keeps its files.
func (r *Runtime) EnsureHostPathVolume(ctx context.Context) (name, mountpoint string, err error) {
	name = HostPathVolumeName(r.node)
	v, err := r.docker.VolumeInspect(ctx, name)
	if err != nil {
		v, err = r.docker.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: "local",
			Labels: map[string]string{LabelCluster: r.cluster, LabelNode: r.node}})
		if err != nil {
			return "", "", fmt.Errorf("create volume %s: %w", name, err)
		}
	}
	return name, v.Mountpoint, nil
}

// SharedVolumeName is the Docker volume of a PersistentVolume kindlike provisioned,
// by its volume handle: one per cluster, not per node, so every node mounts the same
// data, as it would network storage.
func (r *Runtime) SharedVolumeName(handle string) string {
	return "kindlike-" + r.cluster + "-" + handle
}

// EnsureSharedVolume creates a PersistentVolume's Docker volume unless it exists: it
// carries the cluster's label, so deleting the cluster removes it, but no node's, so
// no node removes it with its pods.
func (r *Runtime) EnsureSharedVolume(ctx context.Context, handle, pv string) (string, error) {
	name := r.SharedVolumeName(handle)
	if _, err := r.docker.VolumeInspect(ctx, name); err == nil {
		return name, nil
	}
	// Creating a local volume that exists (another node got there first) succeeds.
	_, err := r.docker.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: "local",
		Labels: map[string]string{LabelCluster: r.cluster, LabelPersistentVolume: pv}})
	if err != nil {
		return "", fmt.Errorf("create volume %s: %w", name, err)
	}
	return name, nil
}

// RemoveSharedVolume removes a PersistentVolume's Docker volume. One that a container
// still uses stays, and says so; one that never was is fine.
func (r *Runtime) RemoveSharedVolume(ctx context.Context, handle string) error {
	name := r.SharedVolumeName(handle)
	if err := r.docker.VolumeRemove(ctx, name, false); err != nil && !IsNotFound(err) {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}

// Mountpoint is where the engine keeps a volume's files on its host.
func (r *Runtime) Mountpoint(ctx context.Context, name string) (string, error) {
	v, err := r.docker.VolumeInspect(ctx, name)
	if err != nil {
		return "", err
	}
	return v.Mountpoint, nil
}

// PodVolume is a Docker volume of some pod of this node.
type PodVolume struct {
	Name   string
	PodUID string
}

// PodVolumes lists the Docker volumes of this node's pods.
func (r *Runtime) PodVolumes(ctx context.Context) ([]PodVolume, error) {
	f := r.nodeFilter()
	f.Add("label", LabelPodUID)
	list, err := r.docker.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	out := make([]PodVolume, 0, len(list.Volumes))
	for _, v := range list.Volumes {
		out = append(out, PodVolume{Name: v.Name, PodUID: v.Labels[LabelPodUID]})
	}
	return out, nil
}

// RemoveVolume removes a Docker volume; one still in use stays, and says so.
func (r *Runtime) RemoveVolume(ctx context.Context, name string) error {
	if err := r.docker.VolumeRemove(ctx, name, true); err != nil && !IsNotFound(err) {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}

// File is a file, directory or symbolic link to write into a container.
type File struct {
	Path     string // relative to the directory written into
	Mode     int64
	Data     []byte
	Dir      bool
	Link     string // symlink target, when non-empty
	UID, GID int
}

// WriteFiles writes files into dir of a container (running or merely created),
// through the engine; a dir on a volume mount writes into the volume.
func (r *Runtime) WriteFiles(ctx context.Context, containerID, dir string, files []File) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for _, f := range files {
		name := strings.TrimPrefix(path.Clean("/"+f.Path), "/")
		h := &tar.Header{Name: name, Mode: f.Mode, Uid: f.UID, Gid: f.GID, ModTime: now, Format: tar.FormatPAX}
		switch {
		case f.Dir:
			h.Typeflag, h.Name = tar.TypeDir, name+"/"
		case f.Link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, f.Link, 0o777
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return r.docker.CopyToContainer(ctx, containerID, dir, &buf, container.CopyToContainerOptions{})
}

// PathInfo is what the engine says about a path in a container.
type PathInfo struct {
	Exists bool
	Dir    bool
	Mode   uint32
	// LinkTarget is where a symbolic link leads, resolved in the container.
	LinkTarget string
}

// StatPath looks at a path in a container (running or merely created).
func (r *Runtime) StatPath(ctx context.Context, containerID, p string) (PathInfo, error) {
	st, err := r.docker.ContainerStatPath(ctx, containerID, p)
	if IsNotFound(err) {
		return PathInfo{}, nil
	}
	if err != nil {
		return PathInfo{}, err
	}
	return PathInfo{Exists: true, Dir: st.Mode.IsDir(), Mode: uint32(st.Mode), LinkTarget: st.LinkTarget}, nil
}

// ErrNoPublisher says a sandbox's pause image cannot publish volumes (one older than
// images.PauseImage, or a stand-in).
var ErrNoPublisher = errors.New("the pause image cannot publish volumes")

// PublishVolume makes generation, a directory just written beside a volume's current
// content in a running sandbox, the volume's content in one atomic swap: the pause
// image's `pause -publish-volume`, run as root in the sandbox (see images/pause).
func (r *Runtime) PublishVolume(ctx context.Context, sandboxID, generation string) error {
	cmd := []string{"/pause", "-publish-volume", generation}
	res, err := r.execAs(ctx, sandboxID, "0:0", cmd, 30*time.Second)
	if err != nil {
		return fmt.Errorf("publish %s: %w", generation, err)
	}
	out := strings.TrimSpace(string(res.Output))
	switch {
	case res.ExitCode == 0:
		return nil
	// No /pause (126, 127), or one that does not know the flag (the flag package's 2).
	case res.ExitCode == 126 || res.ExitCode == 127 || (res.ExitCode == 2 && strings.Contains(out, "flag provided but not defined")):
		return fmt.Errorf("%w: %s", ErrNoPublisher, out)
	}
	return fmt.Errorf("publish %s: exit %d: %s", generation, res.ExitCode, out)
}
