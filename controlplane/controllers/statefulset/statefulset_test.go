package statefulset

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

const oldRevision = "web-old"

func testSet(replicas int32, mods ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "set-uid", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			ServiceName:         "web",
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0)}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "www"},
				Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}},
		},
	}
	for _, m := range mods {
		m(set)
	}
	return set
}

func parallel(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }
func onDelete(s *appsv1.StatefulSet) {
	s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
}
func partition(p int32) func(*appsv1.StatefulSet) {
	return func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To(p) }
}

// member is pod <set>-ord at revision in a state: "ready", "pending", "terminating"
// or "failed". An empty revision is filled in with the set's current one.
func member(set *appsv1.StatefulSet, ord int, state string, revision string) *corev1.Pod {
	pod := newPod(set, set, ord, revision)
	pod.UID = types.UID("uid-" + strconv.Itoa(ord))
	pod.Status.Phase = corev1.PodRunning
	switch state {
	case "ready":
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	case "pending":
		pod.Status.Phase = corev1.PodPending
	case "terminating":
		now := metav1.Now()
		pod.DeletionTimestamp = &now
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	case "failed":
		pod.Status.Phase = corev1.PodFailed
	}
	return pod
}

// actions runs one sync of set over pods and returns what it did to pods and claims,
// as "create pod web-1", "delete pod web-2", "create pvc www-web-0".
func actions(t *testing.T, set *appsv1.StatefulSet, pods []*corev1.Pod) []string {
	t.Helper()
	client := fake.NewSimpleClientset(set)
	for _, p := range pods {
		if err := client.Tracker().Add(p); err != nil {
			t.Fatal(err)
		}
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := New(client, factory.Apps().V1().StatefulSets(), factory.Core().V1().Pods(),
		factory.Core().V1().PersistentVolumeClaims(), factory.Apps().V1().ControllerRevisions(),
		record.NewFakeRecorder(100), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	_ = factory.Apps().V1().StatefulSets().Informer().GetIndexer().Add(set)
	for _, p := range pods {
		_ = factory.Core().V1().Pods().Informer().GetIndexer().Add(p)
		ord, _ := ordinalOf(set, p)
		if p.Status.Phase != corev1.PodPending {
			// Its claim exists; a pending pod's was lost.
			claim := newClaim(set, &set.Spec.VolumeClaimTemplates[0], claimName(set, "www", ord))
			_ = client.Tracker().Add(claim)
			_ = factory.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Add(claim)
		}
	}
	client.ClearActions()
	if err := c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range client.Actions() {
		switch a := a.(type) {
		case k8stesting.CreateAction:
			if m, ok := a.GetObject().(metav1.Object); ok && (a.GetResource().Resource == "pods" || a.GetResource().Resource == "persistentvolumeclaims") {
				out = append(out, "create "+a.GetResource().Resource+" "+m.GetName())
			}
		case k8stesting.DeleteAction:
			if a.GetResource().Resource == "pods" {
				out = append(out, "delete pods "+a.GetName())
			}
		}
	}
	return out
}

func TestSyncSteps(t *testing.T) {
	set := testSet(3)
	tests := []struct {
		name string
		set  *appsv1.StatefulSet
		pods func(set *appsv1.StatefulSet) []*corev1.Pod
		want []string
	}{
		{"first pod and its claim", set, nil, []string{"create persistentvolumeclaims www-web-0", "create pods web-0"}},
		{"waits for web-0 to be ready; its lost claim comes back", set, func(s *appsv1.StatefulSet) []*corev1.Pod {
			return []*corev1.Pod{member(s, 0, "pending", "")}
		}, []string{"create persistentvolumeclaims www-web-0"}},
		{"next once web-0 is ready", set, func(s *appsv1.StatefulSet) []*corev1.Pod {
			return []*corev1.Pod{member(s, 0, "ready", "")}
		}, []string{"create persistentvolumeclaims www-web-1", "create pods web-1"}},
		{"parallel creates all", testSet(3, parallel), nil, []string{
			"create persistentvolumeclaims www-web-0", "create pods web-0", "create persistentvolumeclaims www-web-1", "create pods web-1",
			"create persistentvolumeclaims www-web-2", "create pods web-2"}},
		{"terminating pod is not replaced", set, func(s *appsv1.StatefulSet) []*corev1.Pod {
			return []*corev1.Pod{member(s, 0, "ready", ""), member(s, 1, "terminating", "")}
		}, nil},
		{"parallel: terminating pod is not replaced, others go on", testSet(3, parallel), func(s *appsv1.StatefulSet) []*corev1.Pod {
			return []*corev1.Pod{member(s, 1, "terminating", "")}
		}, []string{"create persistentvolumeclaims www-web-0", "create pods web-0", "create persistentvolumeclaims www-web-2", "create pods web-2"}},
		{"failed pod is deleted first", set, func(s *appsv1.StatefulSet) []*corev1.Pod {
			return []*corev1.Pod{member(s, 0, "failed", "")}
		}, []string{"delete pods web-0"}},
		{"scale down from the highest ordinal, one at a time", testSet(1), func(s *appsv1.StatefulSet) []*corev1.Pod {
			return []*corev1.Pod{member(s, 0, "ready", ""), member(s, 1, "ready", ""), member(s, 2, "ready", "")}
		}, []string{"delete pods web-2"}},
		{"scale down waits for the previous to be gone", testSet(1), func(s *appsv1.StatefulSet) []*corev1.Pod {
			return []*corev1.Pod{member(s, 0, "ready", ""), member(s, 1, "ready", ""), member(s, 2, "terminating", "")}
		}, nil},
		{"parallel scale down deletes all at once", testSet(1, parallel), func(s *appsv1.StatefulSet) []*corev1.Pod {
			return []*corev1.Pod{member(s, 0, "ready", ""), member(s, 1, "ready", ""), member(s, 2, "ready", "")}
		}, []string{"delete pods web-2", "delete pods web-1"}},
		{"rolling update starts at the highest ordinal", set, func(s *appsv1.StatefulSet) []*corev1.Pod {
			return []*corev1.Pod{member(s, 0, "ready", oldRevision), member(s, 1, "ready", oldRevision), member(s, 2, "ready", oldRevision)}
		}, []string{"delete pods web-2"}},
		{"rolling update stops at the partition", testSet(3, partition(2)), func(s *appsv1.StatefulSet) []*corev1.Pod {
			return []*corev1.Pod{member(s, 0, "ready", oldRevision), member(s, 1, "ready", oldRevision), member(s, 2, "ready", updateRevisionOf(t, s))}
		}, nil},
		{"OnDelete leaves old pods", testSet(3, onDelete), func(s *appsv1.StatefulSet) []*corev1.Pod {
			return []*corev1.Pod{member(s, 0, "ready", oldRevision), member(s, 1, "ready", oldRevision), member(s, 2, "ready", oldRevision)}
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pods []*corev1.Pod
			if tc.pods != nil {
				pods = tc.pods(tc.set)
			}
			// Pods without a revision run the set's current template.
			for _, p := range pods {
				if p.Labels["controller-revision-hash"] == "" {
					p.Labels["controller-revision-hash"] = updateRevisionOf(t, tc.set)
				}
			}
			if got := actions(t, tc.set, pods); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// updateRevisionOf is the name the set's revision of its current template gets.
func updateRevisionOf(t *testing.T, set *appsv1.StatefulSet) string {
	t.Helper()
	client := fake.NewSimpleClientset()
	c := &Controller{client: client}
	c.history.Client = client
	_, update, _, err := c.pickRevisions(context.Background(), set, nil)
	if err != nil {
		t.Fatal(err)
	}
	return update.Name
}

func TestOrdinalOf(t *testing.T) {
	set := testSet(1)
	for name, want := range map[string]int{"web-0": 0, "web-12": 12, "web-": -1, "web-01": -1, "web-x": -1, "webx-1": -1, "web-1-2": -1} {
		ord, ok := ordinalOf(set, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}})
		if (want < 0 && ok) || (want >= 0 && (!ok || ord != want)) {
			t.Errorf("ordinalOf(%s) = %d, %v; want %d", name, ord, ok, want)
		}
	}
}

func TestClaimOwners(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-2", UID: "pod-uid"}}
	policy := func(deleted, scaled appsv1.PersistentVolumeClaimRetentionPolicyType) func(*appsv1.StatefulSet) {
		return func(s *appsv1.StatefulSet) {
			s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: deleted, WhenScaled: scaled}
		}
	}
	const retain, del = appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	tests := []struct {
		name      string
		set       *appsv1.StatefulSet
		condemned *corev1.Pod
		want      types.UID
	}{
		{"retain by default", testSet(1), nil, ""},
		{"retain, scaled away", testSet(1), pod, ""},
		{"delete with the set", testSet(1, policy(del, retain)), nil, "set-uid"},
		{"delete with the set, scaled away: kept", testSet(1, policy(del, retain)), pod, ""},
		{"delete on scale-down, in range", testSet(1, policy(retain, del)), nil, ""},
		{"delete on scale-down, scaled away", testSet(1, policy(retain, del)), pod, "pod-uid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			refs := claimOwners(tc.set, tc.condemned)
			var got types.UID
			if len(refs) == 1 && ptr.Deref(refs[0].Controller, false) {
				got = refs[0].UID
			} else if len(refs) > 1 {
				t.Fatalf("refs %v", refs)
			}
			if got != tc.want {
				t.Errorf("controller of claim = %q, want %q", got, tc.want)
			}
		})
	}
}
