package daemonset

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/kindlike/kindlike/controlplane/controllers/history"
)

func testNode(name string, mods ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	for _, m := range mods {
		m(n)
	}
	return n
}

func taint(key string, effect corev1.TaintEffect) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Effect: effect}) }
}

func testDS(mods ...func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ns", UID: "ds-uid", Generation: 1,
			Annotations: map[string]string{appsv1.DeprecatedTemplateGeneration: "1"}},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(1)), MaxSurge: ptr.To(intstr.FromInt32(0))}},
			RevisionHistoryLimit: ptr.To[int32](10),
		},
	}
	for _, m := range mods {
		m(ds)
	}
	return ds
}

func TestShouldRun(t *testing.T) {
	tests := []struct {
		name      string
		ds        *appsv1.DaemonSet
		node      *corev1.Node
		run, stay bool
	}{
		{"plain node", testDS(), testNode("w1"), true, true},
		{"node selector matches", testDS(func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"}
		}), testNode("w1", func(n *corev1.Node) { n.Labels["disk"] = "ssd" }), true, true},
		{"node selector does not match", testDS(func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"}
		}), testNode("w1"), false, false},
		{"control-plane NoSchedule taint: no new pod, existing stays", testDS(),
			testNode("cp", taint("node-role.kubernetes.io/control-plane", corev1.TaintEffectNoSchedule)), false, true},
		{"tolerated control-plane taint", testDS(func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists}}
		}), testNode("cp", taint("node-role.kubernetes.io/control-plane", corev1.TaintEffectNoSchedule)), true, true},
		{"untolerated NoExecute taint evicts", testDS(), testNode("w1", taint("dedicated", corev1.TaintEffectNoExecute)), false, false},
		{"unreachable node keeps its pod", testDS(), testNode("w1",
			taint(corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute), taint(corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule)), false, true},
		{"not-ready NoExecute is tolerated", testDS(), testNode("w1", taint(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)), true, true},
		{"cordoned node still runs it", testDS(), testNode("w1", func(n *corev1.Node) { n.Spec.Unschedulable = true },
			taint(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)), true, true},
		{"memory pressure is tolerated", testDS(), testNode("w1", taint(corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule)), true, true},
		{"required node affinity", testDS(func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
					{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{"w2"}}}}}}}}
		}), testNode("w1"), false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run, stay := shouldRun(tc.ds, tc.node)
			if run != tc.run || stay != tc.stay {
				t.Errorf("shouldRun = %v, %v; want %v, %v", run, stay, tc.run, tc.stay)
			}
		})
	}
}

func TestBindToNode(t *testing.T) {
	spec := &corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "disk", Operator: corev1.NodeSelectorOpExists}}}}}}}}
	bindToNode(spec, "w2")
	if node, ok := targetNode(&corev1.Pod{Spec: *spec}); !ok || node != "w2" {
		t.Fatalf("targetNode = %q, %v; want w2", node, ok)
	}
	if terms := spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms; len(terms) != 1 || len(terms[0].MatchExpressions) != 0 {
		t.Errorf("affinity terms %+v, want only the node's name", terms)
	}
}

// daemonPod is the DaemonSet's pod on node, "new" (current template) or "old", ready
// or not.
func daemonPod(ds *appsv1.DaemonSet, node, revision string, ready bool) *corev1.Pod {
	c := &Controller{}
	hash := "old"
	if revision == "new" {
		data, _ := history.TemplatePatch(ds)
		hash = history.Hash(data, nil)
	}
	pod := c.newPod(ds, node, hash)
	if revision != "new" {
		pod.Labels[templateGenerationLabel] = "0"
	}
	pod.Name = "agent-" + node + "-" + revision
	pod.UID = types.UID(pod.Name)
	pod.Spec.NodeName = node
	pod.Status.Phase = corev1.PodRunning
	if ready {
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	return pod
}

// dsActions runs one sync and returns "create <node>" and "delete <pod>" for what it did.
func dsActions(t *testing.T, ds *appsv1.DaemonSet, nodes []*corev1.Node, pods []*corev1.Pod) []string {
	t.Helper()
	client := fake.NewSimpleClientset(ds)
	n := 0
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		// The fake does not generate names as the API server does.
		if p, ok := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod); ok && p.Name == "" {
			n++
			p.Name = p.GenerateName + strconv.Itoa(n)
		}
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := New(client, factory.Apps().V1().DaemonSets(), factory.Core().V1().Pods(), factory.Core().V1().Nodes(),
		factory.Apps().V1().ControllerRevisions(), record.NewFakeRecorder(100), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	_ = factory.Apps().V1().DaemonSets().Informer().GetIndexer().Add(ds)
	for _, n := range nodes {
		_ = factory.Core().V1().Nodes().Informer().GetIndexer().Add(n)
	}
	for _, p := range pods {
		_ = client.Tracker().Add(p)
		_ = factory.Core().V1().Pods().Informer().GetIndexer().Add(p)
	}
	client.ClearActions()
	if err := c.sync(context.Background(), "ns/agent"); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range client.Actions() {
		switch a := a.(type) {
		case k8stesting.CreateAction:
			if p, ok := a.GetObject().(*corev1.Pod); ok {
				node, _ := targetNode(p)
				out = append(out, "create "+node)
			}
		case k8stesting.DeleteAction:
			if a.GetResource().Resource == "pods" {
				out = append(out, "delete "+a.GetName())
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestSyncDaemonSet(t *testing.T) {
	nodes := []*corev1.Node{testNode("w1"), testNode("w2"), testNode("w3")}
	surge := func(ds *appsv1.DaemonSet) {
		ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(0)), MaxSurge: ptr.To(intstr.FromInt32(1))}
	}
	onDelete := func(ds *appsv1.DaemonSet) {
		ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	}
	tests := []struct {
		name  string
		ds    *appsv1.DaemonSet
		nodes []*corev1.Node
		pods  func(*appsv1.DaemonSet) []*corev1.Pod
		want  []string
	}{
		{"one per node", testDS(), nodes, nil, []string{"create w1", "create w2", "create w3"}},
		{"not on a tainted node", testDS(), []*corev1.Node{testNode("w1"), testNode("cp", taint("node-role.kubernetes.io/control-plane", corev1.TaintEffectNoSchedule))},
			nil, []string{"create w1"}},
		{"only where missing", testDS(), nodes, func(ds *appsv1.DaemonSet) []*corev1.Pod {
			return []*corev1.Pod{daemonPod(ds, "w1", "new", true)}
		}, []string{"create w2", "create w3"}},
		{"off a node that no longer matches", testDS(func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "w1"}
		}), nodes, func(ds *appsv1.DaemonSet) []*corev1.Pod {
			return []*corev1.Pod{daemonPod(ds, "w1", "new", true), daemonPod(ds, "w2", "new", true)}
		}, []string{"delete agent-w2-new"}},
		{"rolling update: one old pod at a time", testDS(), nodes, func(ds *appsv1.DaemonSet) []*corev1.Pod {
			return []*corev1.Pod{daemonPod(ds, "w1", "old", true), daemonPod(ds, "w2", "old", true), daemonPod(ds, "w3", "old", true)}
		}, []string{"delete agent-w1-old"}},
		{"rolling update waits for the new pod", testDS(), nodes, func(ds *appsv1.DaemonSet) []*corev1.Pod {
			return []*corev1.Pod{daemonPod(ds, "w1", "new", false), daemonPod(ds, "w2", "old", true), daemonPod(ds, "w3", "old", true)}
		}, nil},
		{"rolling update replaces unavailable old pods at once", testDS(), nodes, func(ds *appsv1.DaemonSet) []*corev1.Pod {
			return []*corev1.Pod{daemonPod(ds, "w1", "old", false), daemonPod(ds, "w2", "old", false), daemonPod(ds, "w3", "old", true)}
		}, []string{"delete agent-w1-old", "delete agent-w2-old"}},
		{"surge: a new pod beside an old one", testDS(surge), nodes, func(ds *appsv1.DaemonSet) []*corev1.Pod {
			return []*corev1.Pod{daemonPod(ds, "w1", "old", true), daemonPod(ds, "w2", "old", true), daemonPod(ds, "w3", "old", true)}
		}, []string{"create w1"}},
		{"surge: old pod goes once the new one is available", testDS(surge), nodes, func(ds *appsv1.DaemonSet) []*corev1.Pod {
			return []*corev1.Pod{daemonPod(ds, "w1", "old", true), daemonPod(ds, "w1", "new", true), daemonPod(ds, "w2", "old", true), daemonPod(ds, "w3", "old", true)}
		}, []string{"delete agent-w1-old"}},
		{"OnDelete leaves old pods", testDS(onDelete), nodes, func(ds *appsv1.DaemonSet) []*corev1.Pod {
			return []*corev1.Pod{daemonPod(ds, "w1", "old", true), daemonPod(ds, "w2", "old", true), daemonPod(ds, "w3", "old", true)}
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pods []*corev1.Pod
			if tc.pods != nil {
				pods = tc.pods(tc.ds)
			}
			if got := dsActions(t, tc.ds, tc.nodes, pods); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
