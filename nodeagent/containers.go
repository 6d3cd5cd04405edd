package nodeagent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kindlike/kindlike/nodeagent/runtime"
	"github.com/kindlike/kindlike/nodeagent/volumes"
)

// hostPathRoot is where a pause container mounts the node's hostPath volume, so the
// agent can make the directories and files hostPath volumes ask for.
const hostPathRoot = "/.kindlike/hostpath"

// containerHash identifies a container's spec: when it changes, the container is
// restarted, as kubelet does when a pod's image is updated.
func containerHash(c *corev1.Container) string {
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func podRefOf(pod *corev1.Pod) runtime.PodRef {
	return runtime.PodRef{Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID)}
}

// sandboxSpec is the pod's pause container: hostname, DNS, /etc/hosts entries and
// sysctls of the pod, every volume mounted for writing files into.
func (a *agent) sandboxSpec(pod *corev1.Pod, attempt int, node runtime.NodeContainer, mounts []runtime.Mount) runtime.SandboxSpec {
	s := runtime.SandboxSpec{
		Pod: podRefOf(pod), Attempt: attempt, Image: a.cfg.PauseImage, Node: node,
		GracePeriod: gracePeriod(pod), Mounts: mounts, HostNetwork: pod.Spec.HostNetwork,
	}
	if pod.Spec.HostNetwork {
		return s
	}
	s.Hostname = pod.Name
	if pod.Spec.Hostname != "" {
		s.Hostname = pod.Spec.Hostname
	}
	if len(s.Hostname) > 63 {
		s.Hostname = strings.TrimRight(s.Hostname[:63], "-.")
	}
	if pod.Spec.Subdomain != "" {
		s.Domainname = fmt.Sprintf("%s.%s.svc.%s", pod.Spec.Subdomain, pod.Namespace, a.cfg.ClusterDomain)
	}
	s.DNS = a.podDNS(pod)
	if a.cfg.RoutePods {
		s.Gateway = node.IP
	}
	for _, h := range pod.Spec.HostAliases {
		for _, name := range h.Hostnames {
			s.ExtraHosts = append(s.ExtraHosts, name+":"+h.IP)
		}
	}
	if sc := pod.Spec.SecurityContext; sc != nil && len(sc.Sysctls) > 0 {
		s.Sysctls = map[string]string{}
		for _, kv := range sc.Sysctls {
			s.Sysctls[kv.Name] = kv.Value
		}
	}
	return s
}

// podDNS is the pod's resolv.conf as its dnsPolicy says: the cluster DNS Service
// for ClusterFirst (and ClusterFirstWithHostNet), the node's resolver for Default and
// host-network pods, dnsConfig alone for None. Without cluster DNS configured (agents
// outside a cluster network, as in tests), ClusterFirst pods resolve through Docker.
func (a *agent) podDNS(pod *corev1.Pod) runtime.DNS {
	var d runtime.DNS
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		// As kubelet: a host-network pod resolves as its node does unless it asks for
		// ClusterFirstWithHostNet.
		policy = corev1.DNSDefault
	}
	if (policy == corev1.DNSClusterFirst || policy == corev1.DNSClusterFirstWithHostNet) && len(a.cfg.ClusterDNS) > 0 {
		d.Servers = append(d.Servers, a.cfg.ClusterDNS...)
		dom := a.cfg.ClusterDomain
		d.Searches = []string{pod.Namespace + ".svc." + dom, "svc." + dom, dom}
		d.Options = []string{"ndots:5"}
	}
	if c := pod.Spec.DNSConfig; c != nil {
		if policy == corev1.DNSNone {
			d = runtime.DNS{}
		}
		d.Servers = append(d.Servers, c.Nameservers...)
		d.Searches = append(d.Searches, c.Searches...)
		for _, o := range c.Options {
			if o.Value != nil {
				d.Options = append(d.Options, o.Name+":"+*o.Value)
			} else {
				d.Options = append(d.Options, o.Name)
			}
		}
	}
	return d
}

// ensureVolumes creates the pod's Docker volumes and returns how the pause container
// mounts them.
func (a *agent) ensureVolumes(ctx context.Context, pod *corev1.Pod, vols []volumes.Volume) ([]runtime.Mount, error) {
	var mounts []runtime.Mount
	hostPath := false
	for _, v := range vols {
		switch v.Kind {
		case volumes.HostPath:
			hostPath = true
			continue
		case volumes.Empty, volumes.Projected:
			name, err := a.rt.EnsureVolume(ctx, runtime.VolumeSpec{Pod: podRefOf(pod), Name: v.Name, Memory: v.Memory, SizeLimit: v.SizeLimit})
			if err != nil {
				return nil, err
			}
			mounts = append(mounts, runtime.Mount{Volume: name, Target: runtime.VolumeRoot + "/" + v.Name})
		case volumes.Shared:
			name, err := a.rt.EnsureSharedVolume(ctx, v.Handle, v.PersistentVolume)
			if err != nil {
				return nil, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
			}
			mounts = append(mounts, runtime.Mount{Volume: name, Target: runtime.VolumeRoot + "/" + v.Name})
		}
	}
	if hostPath {
		name, _, err := a.rt.EnsureHostPathVolume(ctx)
		if err != nil {
			return nil, err
		}
		mounts = append(mounts, runtime.Mount{Volume: name, Target: hostPathRoot})
	}
	return mounts, nil
}

// writeContents fills the pod's configMap, secret, downward API and projected
// volumes through its pause container, and makes what its hostPath volumes ask for;
// content that did not change since the last write is not written again. fresh says
// the sandbox was just made. A volume the pod's containers already see keeps its
// content when new content cannot be read or written: a FailedMount event says why,
// and a later sync tries again.
func (a *agent) writeContents(ctx context.Context, pod *corev1.Pod, sandbox *runtime.Container, fresh bool, vols []volumes.Volume, st *podState) error {
	failed := false
	for _, v := range vols {
		switch v.Kind {
		case volumes.Projected:
			seen, err := a.writeProjected(ctx, pod, sandbox, fresh, v, st)
			if err == nil {
				continue
			}
			a.mountFailed(pod, st, err.Error())
			if !seen {
				return err
			}
			a.log.Warn("volume not updated; the pod keeps its files", "pod", pod.Namespace+"/"+pod.Name, "volume", v.Name, "err", err)
			failed = true
		case volumes.HostPath:
			if st.contents[v.Name] == sandbox.ID {
				continue
			}
			if err := a.prepareHostPath(ctx, sandbox.ID, v); err != nil {
				a.mountFailed(pod, st, fmt.Sprintf("MountVolume.SetUp failed for volume %q : %v", v.Name, err))
				return err
			}
			st.contents[v.Name] = sandbox.ID
		}
	}
	if !failed {
		st.mountErr = ""
	}
	return nil
}

// prepareHostPath checks or creates a hostPath on the node's disk as its type says.
func (a *agent) prepareHostPath(ctx context.Context, sandboxID string, v volumes.Volume) error {
	p := hostPathRoot + v.Path
	info, err := a.rt.StatPath(ctx, sandboxID, p)
	if err != nil {
		return err
	}
	parents := func(upto string) []runtime.File {
		var out []runtime.File
		parts := strings.Split(strings.Trim(upto, "/"), "/")
		for i := range parts {
			out = append(out, runtime.File{Path: strings.Join(parts[:i+1], "/"), Dir: true, Mode: 0o755})
		}
		return out
	}
	switch v.Type {
	case corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate:
		if info.Exists {
			if !info.Dir && v.Type == corev1.HostPathDirectoryOrCreate {
				return fmt.Errorf("hostPath type check failed: %s is not a directory", v.Path)
			}
			return nil
		}
		return a.rt.WriteFiles(ctx, sandboxID, hostPathRoot, parents(v.Path))
	case corev1.HostPathFileOrCreate:
		if info.Exists {
			if info.Dir {
				return fmt.Errorf("hostPath type check failed: %s is not a file", v.Path)
			}
			return nil
		}
		files := parents(path.Dir(v.Path))
		files = append(files, runtime.File{Path: strings.TrimPrefix(v.Path, "/"), Mode: 0o644})
		return a.rt.WriteFiles(ctx, sandboxID, hostPathRoot, files)
	case corev1.HostPathDirectory:
		if !info.Exists || !info.Dir {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", v.Path)
		}
	case corev1.HostPathFile:
		if !info.Exists || info.Dir {
			return fmt.Errorf("hostPath type check failed: %s is not a file", v.Path)
		}
	default:
		if !info.Exists {
			return fmt.Errorf("hostPath type check failed: %s is not a %s", v.Path, v.Type)
		}
	}
	return nil
}

// containerSpec works out everything Docker needs to run one container of the pod.
// Its errors are the container's CreateContainerConfigError message.
func (a *agent) containerSpec(ctx context.Context, pod *corev1.Pod, c *corev1.Container, init bool, attempt int, sandbox *runtime.Container, img runtime.Image) (runtime.ContainerSpec, error) {
	statusPod := pod.DeepCopy()
	a.fillAddresses(statusPod, sandbox)
	env, err := a.containerEnv(ctx, statusPod, c)
	if err != nil {
		return runtime.ContainerSpec{}, err
	}
	node, err := a.lastNodeContainer(ctx)
	if err != nil {
		return runtime.ContainerSpec{}, err
	}
	s := runtime.ContainerSpec{
		Pod: podRefOf(pod), Sandbox: *sandbox, Node: node, Name: c.Name, Init: init, Attempt: attempt,
		Hash: containerHash(c), Image: c.Image, ImageRef: img.ID, Env: env.list(), WorkingDir: c.WorkingDir,
		TTY: c.TTY, Stdin: c.Stdin, StdinOnce: c.StdinOnce, GracePeriod: gracePeriod(pod),
		TermMsgPath: c.TerminationMessagePath,
	}
	// Kubernetes' entrypoint rules: command replaces the image's ENTRYPOINT (and drops
	// its CMD), args replace its CMD; $(VAR) refers to the container's environment.
	if len(c.Command) > 0 {
		s.Entrypoint = expandAll(c.Command, env)
		s.Cmd = []string{}
	}
	if len(c.Args) > 0 {
		s.Cmd = expandAll(c.Args, env)
	}
	for _, p := range c.Ports {
		proto := strings.ToLower(string(p.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		s.Ports = append(s.Ports, runtime.Port{Port: p.ContainerPort, Protocol: proto})
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		s.MemoryLimit = q.Value()
	}
	if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		s.CPUQuota = max(q.MilliValue()*runtime.CPUPeriod/1000, 1000)
	}
	// CPU shares only for a CPU request: unlike a real node, pods here are siblings
	// of the node containers, and kubelet's 2 shares for best-effort pods would
	// starve them beside the control plane.
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok && !q.IsZero() {
		s.CPUShares = max(q.MilliValue()*1024/1000, 2)
	}
	if err := a.applySecurity(pod, c, img, &s); err != nil {
		return runtime.ContainerSpec{}, err
	}
	mounts, err := a.containerMounts(ctx, pod, c, sandbox, env)
	if err != nil {
		return runtime.ContainerSpec{}, err
	}
	resolv, err := a.resolvConf(ctx, pod)
	if err != nil {
		return runtime.ContainerSpec{}, err
	}
	if resolv != "" {
		mounts = append(mounts, runtime.Mount{HostPath: resolv, Target: "/etc/resolv.conf", ReadOnly: true})
	}
	s.Mounts = mounts
	return s, nil
}

func expandAll(in []string, env *envList) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expand(s, env.lookup)
	}
	return out
}

// fillAddresses sets the status fields the downward API reads before the status
// is posted: the pod's IP is its sandbox's, known only now.
func (a *agent) fillAddresses(pod *corev1.Pod, sandbox *runtime.Container) {
	a.mu.Lock()
	host := a.address
	a.mu.Unlock()
	ip := sandbox.IP
	if pod.Spec.HostNetwork {
		ip = host
	}
	pod.Status.HostIP, pod.Status.PodIP = host, ip
	pod.Status.HostIPs = nil
	if host != "" {
		pod.Status.HostIPs = []corev1.HostIP{{IP: host}}
	}
	pod.Status.PodIPs = nil
	if ip != "" {
		pod.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	}
}

// applySecurity applies the pod's and container's security context.
func (a *agent) applySecurity(pod *corev1.Pod, c *corev1.Container, img runtime.Image, s *runtime.ContainerSpec) error {
	psc := pod.Spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	csc := c.SecurityContext
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	user, group := psc.RunAsUser, psc.RunAsGroup
	if csc.RunAsUser != nil {
		user = csc.RunAsUser
	}
	if csc.RunAsGroup != nil {
		group = csc.RunAsGroup
	}
	nonRoot := psc.RunAsNonRoot
	if csc.RunAsNonRoot != nil {
		nonRoot = csc.RunAsNonRoot
	}
	switch {
	case user != nil && group != nil:
		s.User = fmt.Sprintf("%d:%d", *user, *group)
	case user != nil:
		s.User = strconv.FormatInt(*user, 10)
	case group != nil:
		u, _, _ := strings.Cut(img.User, ":")
		if u == "" {
			u = "0"
		}
		s.User = fmt.Sprintf("%s:%d", u, *group)
	}
	if nonRoot != nil && *nonRoot {
		if user != nil {
			if *user == 0 {
				return fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", podID(pod), c.Name)
			}
		} else {
			u, _, _ := strings.Cut(img.User, ":")
			switch uid, err := strconv.ParseInt(u, 10, 64); {
			case u == "" || u == "root" || (err == nil && uid == 0):
				return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", podID(pod), c.Name)
			case err != nil:
				return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", u, podID(pod), c.Name)
			}
		}
	}
	for _, g := range psc.SupplementalGroups {
		s.GroupAdd = append(s.GroupAdd, strconv.FormatInt(g, 10))
	}
	if psc.FSGroup != nil {
		s.GroupAdd = append(s.GroupAdd, strconv.FormatInt(*psc.FSGroup, 10))
	}
	if csc.Privileged != nil {
		s.Privileged = *csc.Privileged
	}
	if caps := csc.Capabilities; caps != nil {
		for _, c := range caps.Add {
			s.CapAdd = append(s.CapAdd, string(c))
		}
		for _, c := range caps.Drop {
			s.CapDrop = append(s.CapDrop, string(c))
		}
	}
	if csc.ReadOnlyRootFilesystem != nil {
		s.ReadOnlyRootFS = *csc.ReadOnlyRootFilesystem
	}
	if csc.AllowPrivilegeEscalation != nil && !*csc.AllowPrivilegeEscalation {
		s.NoNewPrivs = true
	}
	return nil
}

// containerMounts mounts the volumes the container names: Docker volumes as
// volumes, a subPath or hostPath as a bind of the directory the engine keeps.
func (a *agent) containerMounts(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sandbox *runtime.Container, env *envList) ([]runtime.Mount, error) {
	if len(c.VolumeMounts) == 0 {
		return nil, nil
	}
	plan, err := a.planVolumes(ctx, pod, a.state(string(pod.UID)))
	if err != nil {
		return nil, err
	}
	byName := map[string]volumes.Volume{}
	for _, v := range plan {
		byName[v.Name] = v
	}
	var out []runtime.Mount
	for _, vm := range c.VolumeMounts {
		v, ok := byName[vm.Name]
		if !ok {
			return nil, fmt.Errorf("cannot find volume %q to mount into container %q", vm.Name, c.Name)
		}
		ro := vm.ReadOnly || v.ReadOnly || v.Kind == volumes.Projected
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			sub = expand(vm.SubPathExpr, env.lookup)
		}
		sub = strings.Trim(path.Clean("/"+sub), "/")
		switch v.Kind {
		case volumes.HostPath:
			_, mp, err := a.rt.EnsureHostPathVolume(ctx)
			if err != nil {
				return nil, err
			}
			src := mp + v.Path
			if sub != "" {
				src += "/" + sub
			}
			out = append(out, runtime.Mount{HostPath: src, Target: vm.MountPath, ReadOnly: ro})
		default:
			name := runtime.VolumeName(podRefOf(pod), v.Name)
			if v.Kind == volumes.Shared {
				name = a.rt.SharedVolumeName(v.Handle)
			}
			if sub == "" {
				out = append(out, runtime.Mount{Volume: name, Target: vm.MountPath, ReadOnly: ro})
				continue
			}
			mp, err := a.rt.Mountpoint(ctx, name)
			if err != nil {
				return nil, err
			}
			if v.Kind == volumes.Empty || v.Kind == volumes.Shared {
				info, err := a.rt.StatPath(ctx, sandbox.ID, runtime.VolumeRoot+"/"+v.Name+"/"+sub)
				if err != nil {
					return nil, err
				}
				if !info.Exists {
					if err := a.rt.WriteFiles(ctx, sandbox.ID, runtime.VolumeRoot+"/"+v.Name, []runtime.File{{Path: sub, Dir: true, Mode: 0o777}}); err != nil {
						return nil, err
					}
				}
			}
			out = append(out, runtime.Mount{HostPath: mp + "/" + sub, Target: vm.MountPath, ReadOnly: ro})
		}
	}
	return out, nil
}
