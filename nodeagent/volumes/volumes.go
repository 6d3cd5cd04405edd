// Package volumes turns a pod's volumes into what Docker mounts: a Docker volume per
// emptyDir (tmpfs-backed for medium Memory), configMap, secret, downwardAPI and
// projected volume, filled with files laid out as kubelet lays them out; hostPath
// volumes as directories of the node's own disk, a per-node Docker volume; and
// persistentVolumeClaim volumes as what their bound PersistentVolume is: a Docker
// volume of the cluster that every node can mount, or a hostPath of the node.
package volumes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kindlike/kindlike/nodeagent/downward"
	"github.com/kindlike/kindlike/nodeagent/runtime"
)

// Kind is how a pod volume is backed.
type Kind int

const (
	// Empty is an emptyDir: a Docker volume, tmpfs-backed for medium Memory.
	Empty Kind = iota
	// Projected is a configMap, secret, downwardAPI or projected volume: a Docker
	// volume the agent writes files into, mounted read-only.
	Projected
	// HostPath is a path of the node's disk.
	HostPath
	// Claim is a persistentVolumeClaim volume, until Resolve says what backs it.
	Claim
	// Shared is a Docker volume of the cluster rather than of the pod, outliving it:
	// a PersistentVolume kindlike provisioned.
	Shared
)

// Volume is one pod volume as the agent backs it.
type Volume struct {
	Name string
	Kind Kind
	// Memory and SizeLimit shape an emptyDir.
	Memory    bool
	SizeLimit int64
	// Path and Type are a hostPath's.
	Path string
	Type corev1.HostPathType
	// ClaimName is a Claim's PersistentVolumeClaim; PersistentVolume is the volume
	// bound to it, once resolved, and Handle a Shared volume's CSI volume handle.
	ClaimName        string
	PersistentVolume string
	Handle           string
	// ReadOnly mounts the volume read-only in every container (a claim's readOnly).
	ReadOnly bool
	// Spec is the pod's volume.
	Spec corev1.Volume
}

// Plan says how each of pod's volumes is backed, or why one cannot be.
func Plan(pod *corev1.Pod) ([]Volume, error) {
	out := make([]Volume, 0, len(pod.Spec.Volumes))
	for _, v := range pod.Spec.Volumes {
		vol := Volume{Name: v.Name, Spec: v}
		switch s := v.VolumeSource; {
		case s.EmptyDir != nil:
			vol.Kind = Empty
			vol.Memory = s.EmptyDir.Medium == corev1.StorageMediumMemory
			if s.EmptyDir.SizeLimit != nil {
				vol.SizeLimit = s.EmptyDir.SizeLimit.Value()
			}
		case s.ConfigMap != nil, s.Secret != nil, s.DownwardAPI != nil, s.Projected != nil:
			vol.Kind = Projected
		case s.HostPath != nil:
			vol.Kind = HostPath
			vol.Path = path.Clean("/" + s.HostPath.Path)
			if s.HostPath.Type != nil {
				vol.Type = *s.HostPath.Type
			}
		case s.PersistentVolumeClaim != nil:
			vol.Kind = Claim
			vol.ClaimName = s.PersistentVolumeClaim.ClaimName
			vol.ReadOnly = s.PersistentVolumeClaim.ReadOnly
		default:
			return nil, fmt.Errorf("volume %q: this kind of volume is not supported by kindlike nodes", v.Name)
		}
		out = append(out, vol)
	}
	return out, nil
}

// Source is where volume content comes from: the API, as the node reads it.
type Source interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	// ServiceAccountToken asks the API for a token of the pod's service account.
	ServiceAccountToken(ctx context.Context, pod *corev1.Pod, audience string, expirationSeconds int64) (string, error)
	// Allocatable is the node's, for resource fields of containers without limits.
	Allocatable() corev1.ResourceList
}

// payload is one file of a Projected volume.
type payload struct {
	data []byte
	mode int32
}

// Files are the content of a Projected volume.
type Files struct {
	files    map[string]payload
	gid      int
	fileMode int32
}

// Read reads the files of a Projected volume. Files belong to the pod's fsGroup
// when it has one, and are readable by it.
func Read(ctx context.Context, src Source, pod *corev1.Pod, v corev1.Volume) (Files, error) {
	files, err := payloads(ctx, src, pod, v)
	if err != nil {
		return Files{}, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
	}
	c := Files{files: files}
	if sc := pod.Spec.SecurityContext; sc != nil && sc.FSGroup != nil {
		c.gid, c.fileMode = int(*sc.FSGroup), 0o440
	}
	return c, nil
}

// Hash identifies the content, so unchanged content is not written again.
func (c Files) Hash() string {
	h := sha256.New()
	for _, f := range c.layout("..ts") {
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00%s\x00%d\x00", f.Path, f.Mode, f.GID, f.Link, len(f.Data))
		h.Write(f.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Generation names the directory that holds this content when written at now, as
// kubelet's atomic writer names it: "..", the time, a dot and a number; here the
// number comes from the content, so the agent can tell whether a volume already
// shows it (after a restart of its own, say) from the name "..data" links to.
func (c Files) Generation(now time.Time) string {
	return now.UTC().Format("..2006_01_02_15_04_05.") + c.tag()
}

// In says whether the generation directory gen holds this content.
func (c Files) In(gen string) bool {
	return strings.HasPrefix(gen, "..") && strings.HasSuffix(gen, "."+c.tag())
}

func (c Files) tag() string {
	n, _ := strconv.ParseUint(c.Hash()[:8], 16, 32)
	return fmt.Sprintf("%09d", n%1_000_000_000)
}

// Layout lays the files out as kubelet's atomic writer does: in a generation
// directory (see Generation), "..data" linking to it, and every top-level name
// linking through "..data". The first write copies it all; an update copies only
// the new generation (Content) and has the pause container swap "..data" to it.
func (c Files) Layout(now time.Time) []runtime.File {
	return c.layout(c.Generation(now))
}

// Content is the generation directory of Layout and the files in it.
func (c Files) Content(now time.Time) []runtime.File {
	gen := c.Generation(now)
	return slices.DeleteFunc(c.layout(gen), func(f runtime.File) bool { return f.Path != gen && !strings.HasPrefix(f.Path, gen+"/") })
}

func (c Files) layout(ts string) []runtime.File {
	gid := c.gid
	names := make([]string, 0, len(c.files))
	for p := range c.files {
		names = append(names, p)
	}
	sort.Strings(names)
	out := []runtime.File{{Path: ts, Dir: true, Mode: 0o755, GID: gid}}
	dirs := map[string]bool{}
	top := map[string]bool{}
	for _, p := range names {
		for d := path.Dir(p); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
		top[strings.SplitN(p, "/", 2)[0]] = true
	}
	dirList := make([]string, 0, len(dirs))
	for d := range dirs {
		dirList = append(dirList, d)
	}
	sort.Strings(dirList)
	for _, d := range dirList {
		out = append(out, runtime.File{Path: ts + "/" + d, Dir: true, Mode: 0o755, GID: gid})
	}
	for _, p := range names {
		f := c.files[p]
		out = append(out, runtime.File{Path: ts + "/" + p, Mode: int64(f.mode | c.fileMode), Data: f.data, GID: gid})
	}
	out = append(out, runtime.File{Path: "..data", Link: ts})
	topList := make([]string, 0, len(top))
	for t := range top {
		topList = append(topList, t)
	}
	sort.Strings(topList)
	for _, t := range topList {
		out = append(out, runtime.File{Path: t, Link: "..data/" + t})
	}
	return out
}

func payloads(ctx context.Context, src Source, pod *corev1.Pod, v corev1.Volume) (map[string]payload, error) {
	out := map[string]payload{}
	s := v.VolumeSource
	switch {
	case s.ConfigMap != nil:
		return out, configMapFiles(ctx, src, pod, s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional, mode(s.ConfigMap.DefaultMode), out)
	case s.Secret != nil:
		return out, secretFiles(ctx, src, pod, s.Secret.SecretName, s.Secret.Items, s.Secret.Optional, mode(s.Secret.DefaultMode), out)
	case s.DownwardAPI != nil:
		return out, downwardFiles(pod, src, s.DownwardAPI.Items, mode(s.DownwardAPI.DefaultMode), out)
	case s.Projected != nil:
		def := mode(s.Projected.DefaultMode)
		for _, p := range s.Projected.Sources {
			var err error
			switch {
			case p.ConfigMap != nil:
				err = configMapFiles(ctx, src, pod, p.ConfigMap.Name, p.ConfigMap.Items, p.ConfigMap.Optional, def, out)
			case p.Secret != nil:
				err = secretFiles(ctx, src, pod, p.Secret.Name, p.Secret.Items, p.Secret.Optional, def, out)
			case p.DownwardAPI != nil:
				err = downwardFiles(pod, src, p.DownwardAPI.Items, def, out)
			case p.ServiceAccountToken != nil:
				t := p.ServiceAccountToken
				exp := int64(3600)
				if t.ExpirationSeconds != nil {
					exp = *t.ExpirationSeconds
				}
				var token string
				if token, err = src.ServiceAccountToken(ctx, pod, t.Audience, exp); err == nil {
					out[t.Path] = payload{data: []byte(token), mode: def}
				}
			default:
				err = fmt.Errorf("projected source not supported by kindlike nodes")
			}
			if err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("not a projected volume")
}

func mode(m *int32) int32 {
	if m == nil {
		return corev1.ConfigMapVolumeSourceDefaultMode
	}
	return *m
}

func itemMode(m *int32, def int32) int32 {
	if m == nil {
		return def
	}
	return *m
}

func configMapFiles(ctx context.Context, src Source, pod *corev1.Pod, name string, items []corev1.KeyToPath, optional *bool, def int32, out map[string]payload) error {
	cm, err := src.ConfigMap(ctx, pod.Namespace, name)
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return nil
	}
	if err != nil {
		return err
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return keyFiles("configmap", data, items, optional, def, out)
}

func secretFiles(ctx context.Context, src Source, pod *corev1.Pod, name string, items []corev1.KeyToPath, optional *bool, def int32, out map[string]payload) error {
	s, err := src.Secret(ctx, pod.Namespace, name)
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return nil
	}
	if err != nil {
		return err
	}
	data := map[string][]byte{}
	for k, v := range s.Data {
		data[k] = v
	}
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return keyFiles("secret", data, items, optional, def, out)
}

// keyFiles makes a file per key, or per item when items are listed.
func keyFiles(kind string, data map[string][]byte, items []corev1.KeyToPath, optional *bool, def int32, out map[string]payload) error {
	if len(items) == 0 {
		for k, v := range data {
			out[k] = payload{data: v, mode: def}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional != nil && *optional {
				continue
			}
			return fmt.Errorf("%s references non-existent config key: %s", kind, it.Key)
		}
		out[it.Path] = payload{data: v, mode: itemMode(it.Mode, def)}
	}
	return nil
}

func downwardFiles(pod *corev1.Pod, src Source, items []corev1.DownwardAPIVolumeFile, def int32, out map[string]payload) error {
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = downward.FieldValue(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			r := it.ResourceFieldRef
			v, err = downward.ResourceValue(pod, r.ContainerName, r.Resource, r.Divisor, src.Allocatable())
		}
		if err != nil {
			return err
		}
		out[it.Path] = payload{data: []byte(v), mode: itemMode(it.Mode, def)}
	}
	return nil
}
