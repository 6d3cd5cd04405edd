package nodeagent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// resolvDir is where, in the node's state volume, the agent keeps the resolv.conf
// files it gives pods. Files are named by their content, so pods of one namespace
// share one and none is ever rewritten under a running container.
const resolvDir = "resolv"

// resolvConf is the engine-side path of the resolv.conf a pod's containers get, as
// kubelet writes it from the pod's DNS policy: the cluster DNS server, the search
// path of the pod's namespace and ndots:5. Empty means Docker's own file does: a pod
// with dnsPolicy Default (or a host-network pod) resolves as its node.
//
// Docker's own file cannot be it: on the cluster network it always names Docker's
// embedded server, 127.0.0.11, whatever servers the container is given.
func (a *agent) resolvConf(ctx context.Context, pod *corev1.Pod) (string, error) {
	d := a.podDNS(pod)
	if len(d.Servers) == 0 {
		return "", nil
	}
	var b strings.Builder
	if len(d.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(d.Searches, " "))
	}
	for _, s := range d.Servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(d.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(d.Options, " "))
	}
	content := b.String()
	sum := sha256.Sum256([]byte(content))
	name := hex.EncodeToString(sum[:8]) + ".conf"

	local := filepath.Join(a.cfg.StateDir, resolvDir, name)
	if _, err := os.Stat(local); err != nil {
		if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
			return "", fmt.Errorf("write resolv.conf: %w", err)
		}
		tmp := local + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			return "", fmt.Errorf("write resolv.conf: %w", err)
		}
		if err := os.Rename(tmp, local); err != nil {
			return "", fmt.Errorf("write resolv.conf: %w", err)
		}
	}
	mp, err := a.stateMountpoint(ctx)
	if err != nil {
		return "", err
	}
	return mp + "/" + resolvDir + "/" + name, nil
}

// stateMountpoint is where the engine keeps the node's state volume, asked once.
func (a *agent) stateMountpoint(ctx context.Context) (string, error) {
	a.mu.Lock()
	mp := a.stateMP
	a.mu.Unlock()
	if mp != "" {
		return mp, nil
	}
	mp, err := a.rt.Mountpoint(ctx, a.cfg.StateVolume)
	if err != nil {
		return "", fmt.Errorf("find the node's state volume %s: %w", a.cfg.StateVolume, err)
	}
	a.mu.Lock()
	a.stateMP = mp
	a.mu.Unlock()
	return mp, nil
}
