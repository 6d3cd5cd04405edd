package volumes

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kindlike/kindlike/nodeagent/runtime"
)

type fakeSource struct {
	cms     map[string]*corev1.ConfigMap
	secrets map[string]*corev1.Secret
}

func (f fakeSource) ConfigMap(_ context.Context, _, name string) (*corev1.ConfigMap, error) {
	if cm, ok := f.cms[name]; ok {
		return cm, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmap"}, name)
}

func (f fakeSource) Secret(_ context.Context, _, name string) (*corev1.Secret, error) {
	if s, ok := f.secrets[name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secret"}, name)
}

func (fakeSource) ServiceAccountToken(context.Context, *corev1.Pod, string, int64) (string, error) {
	return "token", nil
}

func (fakeSource) Allocatable() corev1.ResourceList { return nil }

func ptr[T any](v T) *T { return &v }

var src = fakeSource{
	cms:     map[string]*corev1.ConfigMap{"cm": {Data: map[string]string{"a": "1", "b.conf": "x=y\n"}, BinaryData: map[string][]byte{"bin": {0, 1}}}},
	secrets: map[string]*corev1.Secret{"s": {Data: map[string][]byte{"user": []byte("admin")}}},
}

var pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{"b": "2", "a": "1"}}}

// layout renders files as "path mode [-> link | =data]" lines.
func layout(files []runtime.File) string {
	var b strings.Builder
	for _, f := range files {
		switch {
		case f.Dir:
			b.WriteString(f.Path + "/\n")
		case f.Link != "":
			b.WriteString(f.Path + " -> " + f.Link + "\n")
		default:
			fmt.Fprintf(&b, "%s %o =%s\n", f.Path, f.Mode, f.Data)
		}
	}
	return b.String()
}

func TestLayout(t *testing.T) {
	for _, tc := range []struct {
		name string
		vol  corev1.VolumeSource
		want string
		err  string
	}{
		{"configMap: every key a file", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}},
			"..ts/\n..ts/a 644 =1\n..ts/b.conf 644 =x=y\n\n..ts/bin 644 =\x00\x01\n..data -> ..ts\na -> ..data/a\nb.conf -> ..data/b.conf\nbin -> ..data/bin\n", ""},
		{"items, nested paths and modes", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"},
			DefaultMode: ptr(int32(0o400)), Items: []corev1.KeyToPath{{Key: "a", Path: "dir/deep/a"}, {Key: "b.conf", Path: "b", Mode: ptr(int32(0o600))}}}},
			"..ts/\n..ts/dir/\n..ts/dir/deep/\n..ts/b 600 =x=y\n\n..ts/dir/deep/a 400 =1\n..data -> ..ts\nb -> ..data/b\ndir -> ..data/dir\n", ""},
		{"missing key", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"},
			Items: []corev1.KeyToPath{{Key: "nope", Path: "x"}}}}, "", `MountVolume.SetUp failed for volume "v" : configmap references non-existent config key: nope`},
		{"missing configMap", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}},
			"", `MountVolume.SetUp failed for volume "v" : configmap "gone" not found`},
		{"optional missing configMap", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr(true)}},
			"..ts/\n..data -> ..ts\n", ""},
		{"secret", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}},
			"..ts/\n..ts/user 644 =admin\n..data -> ..ts\nuser -> ..data/user\n", ""},
		{"downward API", corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}},
			"..ts/\n..ts/labels 644 =a=\"1\"\nb=\"2\"\n..ts/name 644 =p\n..data -> ..ts\nlabels -> ..data/labels\nname -> ..data/name\n", ""},
		{"projected", corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{DefaultMode: ptr(int32(0o440)), Sources: []corev1.VolumeProjection{
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}},
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
		}}}, "..ts/\n..ts/token 440 =token\n..ts/user 440 =admin\n..data -> ..ts\ntoken -> ..data/token\nuser -> ..data/user\n", ""},
	} {
		files, err := Read(context.Background(), src, pod, corev1.Volume{Name: "v", VolumeSource: tc.vol})
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := strings.ReplaceAll(layout(files.Layout(time.Time{})), files.Generation(time.Time{}), "..ts"); got != tc.want {
			t.Errorf("%s:\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
}

func TestLayoutTimestampAndHash(t *testing.T) {
	v := corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}}
	a, _ := Read(context.Background(), src, pod, v)
	b, _ := Read(context.Background(), src, pod, v)
	if a.Hash() != b.Hash() {
		t.Error("same content, different hashes")
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	files := a.Layout(now)
	gen := files[0].Path
	if !regexp.MustCompile(`^\.\.2026_01_02_03_04_05\.[0-9]{9}$`).MatchString(gen) || gen != a.Generation(now) {
		t.Errorf("generation directory %q, want ..<time>.<9 digits> as kubelet names it", gen)
	}
	if !a.In(gen) || !a.In(a.Generation(now.Add(time.Hour))) {
		t.Errorf("the content is not recognised in its generation directory %q", gen)
	}
	// An update copies the generation alone; the pause container swaps the links.
	if got, want := layout(a.Content(now)), gen+"/\n"+gen+"/user 644 =admin\n"; got != want {
		t.Errorf("content:\n%s\nwant\n%s", got, want)
	}
	grouped := *pod
	grouped.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr(int64(2000))}
	c, _ := Read(context.Background(), src, &grouped, v)
	if c.Hash() == a.Hash() {
		t.Error("fsGroup does not change the hash")
	}
	if c.In(gen) {
		t.Errorf("other content recognised in %s", gen)
	}
	for _, f := range c.Layout(time.Time{}) {
		if f.Link == "" && f.GID != 2000 {
			t.Errorf("%s: gid %d", f.Path, f.GID)
		}
		if f.Link == "" && !f.Dir && f.Mode != 0o644|0o440 {
			t.Errorf("%s: mode %o", f.Path, f.Mode)
		}
	}
}

func TestPlan(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "e", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "m", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "data/../x/", Type: ptr(corev1.HostPathDirectoryOrCreate)}}},
		{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
	}}}
	vols, err := Plan(p)
	if err != nil {
		t.Fatal(err)
	}
	if vols[0].Kind != Empty || vols[0].Memory || !vols[1].Memory || vols[2].Kind != HostPath || vols[2].Path != "/x" ||
		vols[2].Type != corev1.HostPathDirectoryOrCreate || vols[3].Kind != Projected {
		t.Errorf("plan: %+v", vols)
	}
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "nfs", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{}}})
	if _, err := Plan(p); err == nil || !strings.Contains(err.Error(), `volume "nfs"`) {
		t.Errorf("unsupported volume: %v", err)
	}
}
