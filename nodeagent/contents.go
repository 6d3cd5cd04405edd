package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kindlike/kindlike/nodeagent/runtime"
	"github.com/kindlike/kindlike/nodeagent/volumes"
)

// writeProjected brings a configMap, secret, downward API or projected volume up to
// date with its sources, as kubelet's atomic writer does. The first content is
// copied in whole, links last, before any container sees it. Later content is a new
// generation directory beside the current one, which the pause container then swaps
// in with one rename of "..data": a reader sees the old files or the new ones, never
// a mix, a half-written file or a missing one (see images/pause). Files bound with
// subPath are the ones they were when their container started, as in Kubernetes.
//
// seen says whether the pod's containers may already see the volume (it was written
// through this sandbox before): then a failure leaves them the content they have.
func (a *agent) writeProjected(ctx context.Context, pod *corev1.Pod, sandbox *runtime.Container, fresh bool, v volumes.Volume, st *podState) (seen bool, err error) {
	dir := runtime.VolumeRoot + "/" + v.Name
	prev := st.contents[v.Name]
	seen = strings.HasPrefix(prev, sandbox.ID+"/")
	laidOut, current := seen, ""
	if !seen {
		// Not written through this sandbox since the agent started: the volume may
		// hold a layout all the same (the agent restarted, or the pod has a new
		// sandbox), which only a swap may change.
		info, err := a.rt.StatPath(ctx, sandbox.ID, dir+"/..data")
		if err != nil {
			return false, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
		}
		if info.Exists {
			laidOut, current = true, path.Base(info.LinkTarget)
			seen = !fresh
		}
	}
	files, err := volumes.Read(ctx, podSource{Source: a.source, st: st}, pod, v.Spec)
	if err != nil {
		return seen, err
	}
	written := sandbox.ID + "/" + files.Hash()
	if prev == written || (current != "" && files.In(current)) {
		st.contents[v.Name] = written
		return seen, nil
	}
	now := time.Now()
	begin := now
	if laidOut {
		err = a.publish(ctx, pod, sandbox.ID, dir, files, now)
	} else {
		err = a.rt.WriteFiles(ctx, sandbox.ID, dir, files.Layout(now))
	}
	if err != nil {
		return seen, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
	}
	if laidOut {
		a.log.Info("volume updated", "pod", pod.Namespace+"/"+pod.Name, "volume", v.Name, "generation", files.Generation(now),
			"took", time.Since(begin).Round(time.Millisecond))
	}
	st.contents[v.Name] = written
	return seen, nil
}

// publish copies the new generation of a volume beside the current one and has the
// sandbox's pause swap to it. A pause image without the publisher (older than the
// agent) gets the whole layout copied over the old one instead, which is not atomic.
func (a *agent) publish(ctx context.Context, pod *corev1.Pod, sandboxID, dir string, files volumes.Files, now time.Time) error {
	if err := a.rt.WriteFiles(ctx, sandboxID, dir, files.Content(now)); err != nil {
		return err
	}
	err := a.rt.PublishVolume(ctx, sandboxID, dir+"/"+files.Generation(now))
	if errors.Is(err, runtime.ErrNoPublisher) {
		a.log.Warn("the pod's pause image cannot swap volumes atomically (make images builds one that can): copying over the old files",
			"pod", pod.Namespace+"/"+pod.Name, "dir", dir, "err", err)
		return a.rt.WriteFiles(ctx, sandboxID, dir, files.Layout(now))
	}
	return err
}

// podSource is where one pod's volumes read their ConfigMaps and Secrets: an
// immutable one, once read, is what the pod keeps, as kubelet stops watching
// immutable objects; deleting it and creating another under its name changes
// nothing for the pods that use it.
type podSource struct {
	volumes.Source
	st *podState
}

func (s podSource) ConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	if cm := s.st.frozenConfigMaps[name]; cm != nil {
		return cm, nil
	}
	cm, err := s.Source.ConfigMap(ctx, ns, name)
	if err == nil && cm.Immutable != nil && *cm.Immutable {
		if s.st.frozenConfigMaps == nil {
			s.st.frozenConfigMaps = map[string]*corev1.ConfigMap{}
		}
		s.st.frozenConfigMaps[name] = cm
	}
	return cm, err
}

func (s podSource) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	if sec := s.st.frozenSecrets[name]; sec != nil {
		return sec, nil
	}
	sec, err := s.Source.Secret(ctx, ns, name)
	if err == nil && sec.Immutable != nil && *sec.Immutable {
		if s.st.frozenSecrets == nil {
			s.st.frozenSecrets = map[string]*corev1.Secret{}
		}
		s.st.frozenSecrets[name] = sec
	}
	return sec, err
}
