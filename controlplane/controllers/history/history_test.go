package history

import (
	"context"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

var gvk = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

func set(image string) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "set-uid"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3), Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
		}},
	}
}

func TestTemplatePatch(t *testing.T) {
	data, err := TemplatePatch(set("nginx:1.19"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	if !strings.HasPrefix(s, `{"spec":{"template":{"$patch":"replace",`) || !strings.Contains(s, `"image":"nginx:1.19"`) || strings.Contains(s, "replicas") {
		t.Errorf("patch %s: want only spec.template, replaced wholesale", s)
	}
	other, _ := TemplatePatch(set("nginx:1.20"))
	if SameData(data, other) || !SameData(data, []byte(" "+s)) {
		t.Error("SameData compares JSON values")
	}
	if Hash(data, nil) == Hash(other, nil) || Hash(data, nil) == Hash(data, ptr.To[int32](1)) || Hash(data, nil) != Hash(append([]byte(nil), data...), nil) {
		t.Error("Hash must depend on data and collision count only")
	}
}

func TestCreateResolvesCollisions(t *testing.T) {
	owner := set("nginx:1.19")
	data, _ := TemplatePatch(owner)
	// Someone else's revision holds the name this data would get.
	squatter := New(owner, gvk, nil, []byte(`{"other":true}`), 1, ptr.To[int32](0))
	squatter.Name = "web-" + Hash(data, ptr.To[int32](0))
	client := fake.NewSimpleClientset(squatter)
	c := Control{Client: client}
	collisions := int32(0)
	rev, err := c.Create(context.Background(), owner, gvk, owner.Spec.Template.Labels, data, 1, &collisions)
	if err != nil {
		t.Fatal(err)
	}
	if collisions != 1 || rev.Name != "web-"+Hash(data, ptr.To[int32](1)) || rev.Labels[HashLabel] != Hash(data, ptr.To[int32](1)) || rev.Labels["app"] != "web" {
		t.Errorf("created %s labels %v after %d collisions", rev.Name, rev.Labels, collisions)
	}
	// Creating the same data again finds it.
	again, err := c.Create(context.Background(), owner, gvk, owner.Spec.Template.Labels, data, 2, &collisions)
	if err != nil || again.Name != rev.Name || collisions != 1 {
		t.Errorf("again: %v, %v, %d collisions", again.Name, err, collisions)
	}
}

func TestTrim(t *testing.T) {
	var revs []*appsv1.ControllerRevision
	var objs []runtime.Object
	for i, name := range []string{"a", "b", "c", "d", "e"} {
		r := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Revision: int64(i + 1)}
		revs = append(revs, r)
		objs = append(objs, r)
	}
	client := fake.NewSimpleClientset(objs...)
	// a is still run by a pod and e is current: of b, c, d one may stay.
	if err := (Control{Client: client}).Trim(context.Background(), revs, map[string]bool{"a": true, "e": true}, 1); err != nil {
		t.Fatal(err)
	}
	list, _ := client.AppsV1().ControllerRevisions("ns").List(context.Background(), metav1.ListOptions{})
	var left []string
	for _, r := range list.Items {
		left = append(left, r.Name)
	}
	slices.Sort(left)
	if want := []string{"a", "d", "e"}; !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
}
