package scheduler

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// nodeInfo is a node with the pods that take room on it.
type nodeInfo struct {
	node *corev1.Node
	pods []*corev1.Pod
	// requested is the sum of the pods' requests; nil until used works it out.
	requested corev1.ResourceList
}

// The reasons a node is filtered out, in kube-scheduler's words.
const (
	reasonNodeName      = "node(s) didn't match the requested node name"
	reasonUnschedulable = "node(s) were unschedulable"
	reasonAffinity      = "node(s) didn't match Pod's node affinity/selector"
	reasonPorts         = "node(s) didn't have free ports for the requested pod ports"
	reasonTooManyPods   = "Too many pods"
	insufficientPrefix  = "Insufficient "
)

func isResourceReason(r string) bool {
	return r == reasonTooManyPods || strings.HasPrefix(r, insufficientPrefix)
}

// snapshot is every node with its pods, as one scheduling decision sees the cluster.
// It also keeps what the filters and scorers work out from it, so that one decision
// works each out once rather than once per node.
type snapshot struct {
	nodes []*nodeInfo

	wantOf *corev1.Pod
	want   corev1.ResourceList
	// anti are the required anti-affinity terms of the placed pods; antiDone says
	// they have been collected.
	anti     []placedTerm
	antiDone bool
}

// placedTerm is a required anti-affinity term of a pod placed on a node.
type placedTerm struct {
	node *nodeInfo
	pod  *corev1.Pod
	term corev1.PodAffinityTerm
}

// requests is what pod asks for, worked out once per snapshot.
func (all *snapshot) requests(pod *corev1.Pod) corev1.ResourceList {
	if all == nil {
		return requests(pod)
	}
	if all.wantOf != pod {
		all.wantOf, all.want = pod, requests(pod)
	}
	return all.want
}

// antiAffinity lists the required anti-affinity terms of every placed pod.
func (all *snapshot) antiAffinity() []placedTerm {
	if !all.antiDone {
		for _, m := range all.nodes {
			for _, p := range m.pods {
				for _, term := range requiredAntiAffinity(p) {
					all.anti = append(all.anti, placedTerm{node: m, pod: p, term: term})
				}
			}
		}
		all.antiDone = true
	}
	return all.anti
}

// filters run in kube-scheduler's order; the first that refuses a node names the reason.
var filters = []func(pod *corev1.Pod, n *nodeInfo, all *snapshot) string{
	fitsNodeName,
	fitsUnschedulable,
	fitsAffinity,
	fitsTaints,
	fitsPorts,
	fitsResources,
	fitsInterPodAffinity,
	fitsTopologySpread,
}

// filter returns why pod cannot run on n, or "" if it can.
func filter(pod *corev1.Pod, n *nodeInfo, all *snapshot) string {
	for _, f := range filters {
		if reason := f(pod, n, all); reason != "" {
			return reason
		}
	}
	return ""
}

func fitsNodeName(pod *corev1.Pod, n *nodeInfo, _ *snapshot) string {
	if pod.Spec.NodeName != "" && pod.Spec.NodeName != n.node.Name {
		return reasonNodeName
	}
	return ""
}

// fitsUnschedulable refuses cordoned nodes, unless the pod tolerates the
// unschedulable taint as DaemonSet pods do.
func fitsUnschedulable(pod *corev1.Pod, n *nodeInfo, _ *snapshot) string {
	if !n.node.Spec.Unschedulable {
		return ""
	}
	taint := corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}
	if corev1helpers.TolerationsTolerateTaint(pod.Spec.Tolerations, &taint) {
		return ""
	}
	return reasonUnschedulable
}

// fitsAffinity checks nodeSelector and required node affinity.
func fitsAffinity(pod *corev1.Pod, n *nodeInfo, _ *snapshot) string {
	if ok, _ := nodeaffinity.GetRequiredNodeAffinity(pod).Match(n.node); !ok {
		return reasonAffinity
	}
	return ""
}

// fitsTaints refuses a node with a NoSchedule or NoExecute taint the pod does not
// tolerate.
func fitsTaints(pod *corev1.Pod, n *nodeInfo, _ *snapshot) string {
	taint, untolerated := corev1helpers.FindMatchingUntoleratedTaint(n.node.Spec.Taints, pod.Spec.Tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
	})
	if untolerated {
		return fmt.Sprintf("node(s) had untolerated taint {%s: %s}", taint.Key, taint.Value)
	}
	return ""
}

type hostPort struct {
	ip       string
	protocol corev1.Protocol
	port     int32
}

func hostPorts(pod *corev1.Pod) []hostPort {
	var out []hostPort
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			for _, p := range cs[i].Ports {
				if p.HostPort == 0 {
					continue
				}
				proto := p.Protocol
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				ip := p.HostIP
				if ip == "" {
					ip = "0.0.0.0"
				}
				out = append(out, hostPort{ip: ip, protocol: proto, port: p.HostPort})
			}
		}
	}
	return out
}

func fitsPorts(pod *corev1.Pod, n *nodeInfo, _ *snapshot) string {
	want := hostPorts(pod)
	if len(want) == 0 {
		return ""
	}
	for _, other := range n.pods {
		for _, used := range hostPorts(other) {
			for _, w := range want {
				if w.port == used.port && w.protocol == used.protocol && (w.ip == used.ip || w.ip == "0.0.0.0" || used.ip == "0.0.0.0") {
					return reasonPorts
				}
			}
		}
	}
	return ""
}

// requests is what a pod asks for, as the scheduler counts it.
func requests(pod *corev1.Pod) corev1.ResourceList {
	return resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
}

// used sums the requests of the pods on a node; callers must not change it.
func (n *nodeInfo) used() corev1.ResourceList {
	if n.requested == nil {
		n.requested = corev1.ResourceList{}
		for _, p := range n.pods {
			addRequests(n.requested, requests(p))
		}
	}
	return n.requested
}

// addRequests adds the quantities of more to total.
func addRequests(total, more corev1.ResourceList) {
	for name, q := range more {
		sum := total[name]
		sum.Add(q)
		total[name] = sum
	}
}

// fitsResources checks requests against allocatable: pod count, then every requested
// resource, reporting each shortage.
func fitsResources(pod *corev1.Pod, n *nodeInfo, all *snapshot) string {
	alloc := n.node.Status.Allocatable
	if maxPods, ok := alloc[corev1.ResourcePods]; ok && int64(len(n.pods))+1 > maxPods.Value() {
		return reasonTooManyPods
	}
	want := all.requests(pod)
	used := n.used()
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, string(name))
	}
	sort.Strings(names)
	for _, name := range names {
		q := want[corev1.ResourceName(name)]
		if q.IsZero() {
			continue
		}
		have, ok := alloc[corev1.ResourceName(name)]
		if !ok {
			have = resource.Quantity{}
		}
		need := used[corev1.ResourceName(name)].DeepCopy()
		need.Add(q)
		if need.Cmp(have) > 0 {
			return insufficientPrefix + name
		}
	}
	return ""
}

// diagnosis says why a pod fits on no node.
type diagnosis struct {
	nodes int
	// preFilter is why the pod fits no node whatever the node, as a kube-scheduler
	// PreFilter plugin says it.
	preFilter string
	reasons   map[string]int
	resources int
}

// message is the FailedScheduling text, in kube-scheduler v1.32's form. kindlike has no
// preemption; with every pod at the same priority, kube-scheduler would find nothing to
// preempt either, and says so in these words.
func (d diagnosis) message() string {
	if d.nodes == 0 {
		return "no nodes available to schedule pods"
	}
	if d.preFilter != "" {
		return fmt.Sprintf("0/%d nodes are available: %s. preemption: 0/%d nodes are available: %d Preemption is not helpful for scheduling.",
			d.nodes, d.preFilter, d.nodes, d.nodes)
	}
	var parts []string
	for reason, n := range d.reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, reason))
	}
	sort.Strings(parts)
	var pre []string
	if other := d.nodes - d.resources; other > 0 {
		pre = append(pre, fmt.Sprintf("%d Preemption is not helpful for scheduling", other))
	}
	if d.resources > 0 {
		pre = append(pre, fmt.Sprintf("%d No preemption victims found for incoming pod", d.resources))
	}
	sort.Strings(pre)
	return fmt.Sprintf("0/%d nodes are available: %s. preemption: 0/%d nodes are available: %s.",
		d.nodes, strings.Join(parts, ", "), d.nodes, strings.Join(pre, ", "))
}
