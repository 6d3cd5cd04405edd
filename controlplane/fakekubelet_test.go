package controlplane_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// fakeKubelet stands in for the node agents of integration tests that need no
// Docker: it registers nodes and renews their leases, starts every pod bound to
// them at once (Running and Ready, or whatever phase Outcome says) and confirms
// deletions of their pods. A node that is stopped does none of this, as a killed
// node container would not.
type fakeKubelet struct {
	t      testing.TB
	client kubernetes.Interface
	// Outcome, when set, says what phase a started pod ends in; Running (and Ready)
	// otherwise. Jobs' pods are Succeeded or Failed; Pending leaves the pod waiting
	// for its containers for good, never ready.
	Outcome func(*corev1.Pod) corev1.PodPhase

	mu      sync.Mutex
	nodes   map[string]bool // name → alive
	idle    bool            // keep nodes alive but start no pods
	nextIP  int
	pods    cache.Indexer
	trigger chan struct{}
}

// startFakeKubelet runs a fake kubelet for the named worker nodes until the test ends.
func startFakeKubelet(t testing.TB, client kubernetes.Interface, nodes ...string) *fakeKubelet {
	t.Helper()
	k := &fakeKubelet{t: t, client: client, nodes: map[string]bool{}, trigger: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(client, 0)
	inf := factory.Core().V1().Pods().Informer()
	poke := func(any) { k.poke() }
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: poke, UpdateFunc: func(_, o any) { poke(o) }})
	k.pods = inf.GetIndexer()
	factory.Start(ctx.Done())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	k.AddNodes(nodes...)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				k.renewLeases(ctx)
			case <-k.trigger:
			}
			k.syncPods(ctx)
		}
	}()
	return k
}

func (k *fakeKubelet) poke() {
	select {
	case k.trigger <- struct{}{}:
	default:
	}
}

// AddNode registers a Ready worker node with room for 110 pods.
func (k *fakeKubelet) AddNode(name string) {
	k.t.Helper()
	k.AddNodes(name)
}

// AddNodes registers Ready worker nodes with room for 110 pods each, concurrently, as
// agents starting together would.
func (k *fakeKubelet) AddNodes(names ...string) {
	k.t.Helper()
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = k.register(name)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			k.t.Fatal(err)
		}
	}
	k.poke()
}

func (k *fakeKubelet) register(name string) error {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110")}
	n.Status.Allocatable = n.Status.Capacity.DeepCopy()
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if _, err := k.client.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create node %s: %w", name, err)
	}
	k.mu.Lock()
	k.nodes[name] = true
	k.mu.Unlock()
	k.renewLease(context.Background(), name)
	return nil
}

// LeavePodsPending makes the kubelet keep its nodes alive but start no pods, for
// benchmarks where only the scheduler should write to pods.
func (k *fakeKubelet) LeavePodsPending() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.idle = true
}

// Stop makes a node go silent, as if its container were killed.
func (k *fakeKubelet) Stop(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.nodes[name] = false
}

// Start brings a stopped node back.
func (k *fakeKubelet) Start(name string) {
	k.mu.Lock()
	k.nodes[name] = true
	k.mu.Unlock()
	k.renewLease(context.Background(), name)
	k.poke()
}

func (k *fakeKubelet) alive(node string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.nodes[node]
}

func (k *fakeKubelet) renewLeases(ctx context.Context) {
	k.mu.Lock()
	var alive []string
	for n, up := range k.nodes {
		if up {
			alive = append(alive, n)
		}
	}
	k.mu.Unlock()
	for _, name := range alive {
		k.renewLease(ctx, name)
	}
}

func (k *fakeKubelet) renewLease(ctx context.Context, name string) {
	leases := k.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	l, err := leases.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		secs := int32(40)
		l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &name, LeaseDurationSeconds: &secs, RenewTime: &now}}
		_, _ = leases.Create(ctx, l, metav1.CreateOptions{})
		return
	}
	if err != nil {
		return
	}
	l.Spec.RenewTime = &now
	_, _ = leases.Update(ctx, l, metav1.UpdateOptions{})
	// A node coming back posts Ready again, as an agent does.
	if n, err := k.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); err == nil {
		for i, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue {
				n.Status.Conditions[i] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
					LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}
				_, _ = k.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
			}
		}
	}
}

// syncPods starts new pods of live nodes and confirms the deletion of terminating ones.
func (k *fakeKubelet) syncPods(ctx context.Context) {
	k.mu.Lock()
	idle := k.idle
	k.mu.Unlock()
	if idle {
		return
	}
	for _, o := range k.pods.List() {
		pod := o.(*corev1.Pod)
		if pod.Spec.NodeName == "" || !k.alive(pod.Spec.NodeName) {
			continue
		}
		if pod.DeletionTimestamp != nil {
			zero := int64(0)
			_ = k.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
				GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID}})
			continue
		}
		if pod.Status.StartTime != nil || (pod.Status.Phase != "" && pod.Status.Phase != corev1.PodPending) {
			continue
		}
		k.start(ctx, pod.DeepCopy())
	}
}

func (k *fakeKubelet) start(ctx context.Context, pod *corev1.Pod) {
	phase := corev1.PodRunning
	if k.Outcome != nil {
		phase = k.Outcome(pod)
	}
	k.mu.Lock()
	k.nextIP++
	ip := fmt.Sprintf("10.244.%d.%d", k.nextIP/250, k.nextIP%250+2)
	k.mu.Unlock()
	now := metav1.Now()
	running := phase == corev1.PodRunning
	status := corev1.ConditionFalse
	if running {
		status = corev1.ConditionTrue
	}
	pod.Status.Phase = phase
	pod.Status.PodIP = ip
	pod.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	pod.Status.HostIP = "172.30.0.9"
	pod.Status.StartTime = &now
	pod.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: status, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: status, LastTransitionTime: now},
	}
	pod.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Ready: running, Started: &running,
			ContainerID: "docker://fake-" + string(pod.UID)}
		switch {
		case running:
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
		case phase == corev1.PodPending:
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
		default:
			code := int32(0)
			reason := "Completed"
			if phase == corev1.PodFailed {
				code, reason = 1, "Error"
			}
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, StartedAt: now, FinishedAt: now}
		}
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, cs)
	}
	if _, err := k.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		k.t.Logf("fake kubelet: start %s/%s: %v", pod.Namespace, pod.Name, err)
	}
}
