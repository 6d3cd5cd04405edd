package nodeagent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"runtime"
	"sort"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/system"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/version"
)

// Labels and taints every node carries, as kubelet and kubeadm set them.
const (
	labelHostname     = "kubernetes.io/hostname"
	labelOS           = "kubernetes.io/os"
	labelArch         = "kubernetes.io/arch"
	labelBetaOS       = "beta.kubernetes.io/os"
	labelBetaArch     = "beta.kubernetes.io/arch"
	labelControlPlane = "node-role.kubernetes.io/control-plane"
	// AgentPort is where an agent serves logs, exec and port-forward to the API server,
	// reported as the node's kubelet endpoint.
	AgentPort = 10250
	// maxPods is the default pod capacity of a node, as kubelet's.
	maxPods = "110"
)

func typesUID(s string) types.UID { return types.UID(s) }

// newBootID names this run of the agent; a new one tells watchers the node rebooted.
func newBootID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// desiredNode is the Node as this agent registers it.
func (a *agent) desiredNode(info system.Info) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: a.node.Name, Labels: a.labels()}}
	n.Spec.Taints = a.taints()
	n.Status = a.status(info, time.Now())
	return n
}

func (a *agent) labels() map[string]string {
	l := map[string]string{
		labelHostname: a.node.Name, labelOS: runtime.GOOS, labelArch: runtime.GOARCH,
		labelBetaOS: runtime.GOOS, labelBetaArch: runtime.GOARCH,
	}
	if a.node.Role == config.RoleControlPlane {
		l[labelControlPlane] = ""
	}
	for k, v := range a.node.Labels {
		l[k] = v
	}
	return l
}

func (a *agent) taints() []corev1.Taint {
	var out []corev1.Taint
	if a.node.Role == config.RoleControlPlane {
		out = append(out, corev1.Taint{Key: labelControlPlane, Effect: corev1.TaintEffectNoSchedule})
	}
	for _, t := range a.node.Taints {
		out = append(out, corev1.Taint{Key: t.Key, Value: t.Value, Effect: corev1.TaintEffect(t.Effect)})
	}
	return out
}

// status is the node's full status as of now.
func (a *agent) status(info system.Info, now time.Time) corev1.NodeStatus {
	capacity := a.capacity(info)
	ts := metav1.NewTime(now)
	a.mu.Lock()
	boot, port := a.bootID, a.port
	a.mu.Unlock()
	if port == 0 {
		port = AgentPort
	}
	return corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity.DeepCopy(),
		Phase:       "",
		Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: ts, LastTransitionTime: ts,
				Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
			{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: ts, LastTransitionTime: ts,
				Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
			{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: ts, LastTransitionTime: ts,
				Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: ts, LastTransitionTime: ts,
				Reason: "KubeletReady", Message: "kubelet is posting ready status"},
		},
		Addresses:       a.addresses(),
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               stableID(a.node.Cluster + "/" + a.node.Name),
			SystemUUID:              stableID("system/" + a.node.Cluster + "/" + a.node.Name),
			BootID:                  boot,
			KernelVersion:           kernelVersion(info),
			OSImage:                 osImage(info),
			ContainerRuntimeVersion: "docker://" + info.ServerVersion,
			KubeletVersion:          version.Server(),
			OperatingSystem:         runtime.GOOS,
			Architecture:            runtime.GOARCH,
		},
	}
}

// capacity is what the config gives, else what the Docker host has.
func (a *agent) capacity(info system.Info) corev1.ResourceList {
	list := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(max(info.NCPU, 1)), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(info.MemTotal, resource.BinarySI),
		corev1.ResourcePods:             resource.MustParse(maxPods),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(diskSize(config.NodeStateDir), resource.BinarySI),
		"hugepages-1Gi":                 resource.MustParse("0"),
		"hugepages-2Mi":                 resource.MustParse("0"),
	}
	for name, v := range a.node.Capacity {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			a.log.Warn("ignoring invalid capacity", "resource", name, "value", v, "err", err)
			continue
		}
		list[corev1.ResourceName(name)] = q
	}
	if a.source != nil {
		a.source.setAllocatable(list.DeepCopy())
	}
	return list
}

func diskSize(path string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		if err := syscall.Statfs("/", &st); err != nil {
			return 0
		}
	}
	return int64(st.Blocks) * int64(st.Bsize)
}

func kernelVersion(info system.Info) string {
	if info.KernelVersion != "" {
		return info.KernelVersion
	}
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return ""
	}
	b := make([]byte, 0, len(u.Release))
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

func osImage(info system.Info) string {
	if info.OperatingSystem != "" {
		return info.OperatingSystem
	}
	return "kindlike node"
}

func stableID(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// addresses are the node's IP on the cluster network and its hostname.
func (a *agent) addresses() []corev1.NodeAddress {
	var out []corev1.NodeAddress
	a.mu.Lock()
	ip := a.address
	a.mu.Unlock()
	if ip == "" {
		ip = internalIP()
	}
	if ip != "" {
		out = append(out, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	return append(out, corev1.NodeAddress{Type: corev1.NodeHostName, Address: a.node.Name})
}

// internalIP is the first non-loopback IPv4 address of the container.
func internalIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, addr := range addrs {
		if ipn, ok := addr.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	return ""
}

// register creates the Node, or brings an existing one (from before a restart) up to
// date, retrying until the API answers.
func (a *agent) register(ctx context.Context) error {
	var info system.Info
	if err := retry(ctx, 5*time.Second, func() error {
		var err error
		info, err = a.docker.Info(ctx)
		if err != nil {
			a.log.Warn("cannot reach Docker; retrying", "err", err)
		}
		return err
	}); err != nil {
		return fmt.Errorf("reach Docker: %w", err)
	}
	err := retry(ctx, 5*time.Second, func() error {
		err := a.registerOnce(ctx, info)
		if err != nil {
			a.log.Warn("registering node; retrying", "err", err)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("register node %s: %w", a.node.Name, err)
	}
	a.log.Info("node registered")
	return nil
}

func (a *agent) registerOnce(ctx context.Context, info system.Info) error {
	nodes := a.client.CoreV1().Nodes()
	desired := a.desiredNode(info)
	node, err := nodes.Create(ctx, desired, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		node, err = nodes.Get(ctx, a.node.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		node = node.DeepCopy()
		for k, v := range desired.Labels {
			node.Labels[k] = v
		}
		for _, t := range desired.Spec.Taints {
			if !hasTaint(node.Spec.Taints, t) {
				node.Spec.Taints = append(node.Spec.Taints, t)
			}
		}
		if node, err = nodes.Update(ctx, node, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.nodeUID = string(node.UID)
	a.mu.Unlock()
	_, err = a.postStatus(ctx, node, info, true)
	return err
}

func hasTaint(list []corev1.Taint, t corev1.Taint) bool {
	for _, x := range list {
		if x.Key == t.Key && x.Effect == t.Effect {
			return true
		}
	}
	return false
}

// postStatus writes the node's status, keeping each condition's transition time
// unless its status changed. Unless force is set, it writes only when the status
// differs from node's in more than its heartbeat times, as kubelet does between
// reports; it says whether it wrote.
func (a *agent) postStatus(ctx context.Context, node *corev1.Node, info system.Info, force bool) (bool, error) {
	fresh := a.status(info, time.Now())
	for i, c := range fresh.Conditions {
		for _, old := range node.Status.Conditions {
			if old.Type == c.Type && old.Status == c.Status {
				fresh.Conditions[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	fresh.Images = node.Status.Images
	if !force && !statusChanged(&node.Status, &fresh) {
		return false, nil
	}
	node = node.DeepCopy()
	node.Status = fresh
	_, err := a.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err == nil, err
}

// statusChanged reports whether two node statuses differ in more than their
// conditions' heartbeat times.
func statusChanged(old, cur *corev1.NodeStatus) bool {
	strip := func(s *corev1.NodeStatus) *corev1.NodeStatus {
		s = s.DeepCopy()
		for i := range s.Conditions {
			s.Conditions[i].LastHeartbeatTime = metav1.Time{}
		}
		sort.Slice(s.Conditions, func(i, j int) bool { return s.Conditions[i].Type < s.Conditions[j].Type })
		return s
	}
	return !apiequality.Semantic.DeepEqual(strip(old), strip(cur))
}

// reportStatus computes the node's status every update interval and posts it when
// it changed (Ready again after the node was lost, say), and at least every report
// interval, so the heartbeat times `kubectl describe node` shows move; between, the
// Lease alone says the node is alive and `kubectl get nodes -w` stays quiet.
func (a *agent) reportStatus(ctx context.Context) {
	ticker := time.NewTicker(a.node.Timing.NodeStatusUpdateInterval.Duration)
	defer ticker.Stop()
	var info system.Info
	lastReport := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if i, err := a.docker.Info(ctx); err == nil {
			info = i
		} else if info.ServerVersion == "" {
			continue
		}
		node, err := a.client.CoreV1().Nodes().Get(ctx, a.node.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			// Deleted while we run (kubectl delete node): register again, as kubelet does.
			if err := a.registerOnce(ctx, info); err != nil {
				a.log.Warn("re-registering deleted node", "err", err)
			}
			continue
		}
		if err != nil {
			a.log.Debug("reading node for status", "err", err)
			continue
		}
		due := time.Since(lastReport) >= a.node.Timing.NodeStatusReportInterval.Duration
		posted, err := a.postStatus(ctx, node, info, due)
		if err != nil {
			a.log.Debug("posting node status", "err", err)
		}
		if posted {
			lastReport = time.Now()
		}
	}
}
