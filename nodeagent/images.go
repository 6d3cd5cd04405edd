package nodeagent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"

	"github.com/kindlike/kindlike/nodeagent/runtime"
)

// imageCache remembers how the engine shows the images containers run, for
// containerStatuses[].imageID, without inspecting them on every status.
type imageCache struct {
	mu   sync.Mutex
	byID map[string]string
	// pulling serializes pulls of one image, as kubelet's serialized puller does.
	pulling map[string]*sync.Mutex
	// failures holds when pulls (per pod and image) last failed.
	failures map[string]time.Time
}

func (c *imageCache) failedAt(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failures[key] = time.Now()
}

func newImageCache() *imageCache {
	return &imageCache{byID: map[string]string{}, pulling: map[string]*sync.Mutex{}, failures: map[string]time.Time{}}
}

func (c *imageCache) set(img runtime.Image) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byID[img.ID] = img.DisplayID()
}

// displayID is an image's ID as pods show it; "" when not known yet.
func (c *imageCache) displayID(id string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[id]
}

func (c *imageCache) lock(ref string) func() {
	c.mu.Lock()
	m := c.pulling[ref]
	if m == nil {
		m = &sync.Mutex{}
		c.pulling[ref] = m
	}
	c.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// pullPolicy is the container's, or the one the API defaults to.
func pullPolicy(c *corev1.Container) corev1.PullPolicy {
	if c.ImagePullPolicy != "" {
		return c.ImagePullPolicy
	}
	if named, err := reference.ParseNormalizedNamed(c.Image); err == nil {
		if t, ok := named.(reference.Tagged); ok && t.Tag() != "latest" {
			return corev1.PullIfNotPresent
		}
		if _, ok := named.(reference.Digested); ok {
			return corev1.PullIfNotPresent
		}
	}
	return corev1.PullAlways
}

// ensureImage makes the container's image present as its pull policy says, with
// kubelet's events; when it cannot, it records why the container waits and says
// when to look again.
//
// Offline (kindlike's usual world), PullAlways could never start anything: an image
// present locally is used when the pull fails, and the Pulled event says so.
func (a *agent) ensureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container, st *podState) (runtime.Image, time.Duration, bool) {
	ref := containerRef(pod, c.Name)
	img, present, err := a.rt.ImageByRef(ctx, c.Image)
	if err != nil {
		st.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: waitingErrImagePull, Message: err.Error()}
		return runtime.Image{}, 5 * time.Second, false
	}
	policy := pullPolicy(c)
	if present && policy != corev1.PullAlways {
		a.images.set(img)
		a.recorder.Eventf(ref, corev1.EventTypeNormal, reasonPulled, "Container image %q already present on machine", c.Image)
		return img, 0, true
	}
	if policy == corev1.PullNever {
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
		st.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: waitingNeverPull, Message: msg}
		a.recorder.Event(ref, corev1.EventTypeWarning, reasonNeverPull, msg)
		a.recorder.Eventf(ref, corev1.EventTypeWarning, reasonFailed, "Error: %s", waitingNeverPull)
		return runtime.Image{}, 0, false
	}
	key := string(pod.UID) + "/" + c.Image
	now := time.Now()
	if !present && a.pulls.IsInBackOffSinceUpdate(key, now) {
		msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
		st.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: waitingImagePullBackOff, Message: msg}
		a.recorder.Event(ref, corev1.EventTypeNormal, reasonBackOff, msg)
		a.recorder.Eventf(ref, corev1.EventTypeWarning, reasonFailed, "Error: %s", waitingImagePullBackOff)
		return runtime.Image{}, max(a.pulls.Get(key)-a.sinceLastPull(key), time.Second), false
	}
	a.recorder.Eventf(ref, corev1.EventTypeNormal, reasonPulling, "Pulling image %q", c.Image)
	unlock := a.images.lock(c.Image)
	waited := time.Since(now)
	pullStart := time.Now()
	err = a.rt.Pull(ctx, c.Image, a.registryAuth(ctx, pod, c.Image))
	unlock()
	took := time.Since(pullStart)
	if err == nil {
		img, present, err = a.rt.ImageByRef(ctx, c.Image)
		if err == nil && !present {
			err = fmt.Errorf("image %q not found after pulling it", c.Image)
		}
		if err == nil {
			a.images.set(img)
			a.recorder.Eventf(ref, corev1.EventTypeNormal, reasonPulled, "Successfully pulled image %q in %s (%s including waiting). Image size: %d bytes.",
				c.Image, took.Round(time.Millisecond), (took + waited).Round(time.Millisecond), img.Size)
			return img, 0, true
		}
	}
	if present {
		a.images.set(img)
		// The registry's own error (usually a DNS failure offline) goes to the log, not
		// to the student reading events.
		a.log.Debug("pull failed; using the image present on the machine", "image", c.Image, "err", err)
		a.recorder.Eventf(ref, corev1.EventTypeNormal, reasonPulled, "Container image %q already present on machine; pulling it failed (pull policy Always, no registry reachable), so the local image is used", c.Image)
		return img, 0, true
	}
	a.pulls.Next(key, time.Now())
	a.images.failedAt(key)
	msg := fmt.Sprintf("Failed to pull image %q: %v", c.Image, err)
	st.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: waitingErrImagePull, Message: msg}
	a.recorder.Event(ref, corev1.EventTypeWarning, reasonFailed, msg)
	a.recorder.Eventf(ref, corev1.EventTypeWarning, reasonFailed, "Error: %s", waitingErrImagePull)
	// Look again soon: the status moves on to ImagePullBackOff until the back-off ends.
	return runtime.Image{}, time.Second, false
}

func (a *agent) sinceLastPull(key string) time.Duration {
	a.images.mu.Lock()
	defer a.images.mu.Unlock()
	return time.Since(a.images.failures[key])
}
