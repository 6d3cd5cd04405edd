// Package podgc is the pod garbage collector, as in Kubernetes: every period it
// force-deletes pods bound to nodes that no longer exist (after a quarantine, and
// marking them Failed with a DisruptionTarget condition first, so their Jobs count
// and replace them), terminating pods never scheduled, terminating pods on nodes
// taken out of service, and the oldest finished pods above a threshold.
package podgc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/kindlike/kindlike/controlplane/controllers/podcontrol"
)

// Defaults of kube-controller-manager v1.32.
const (
	// DefaultTerminatedThreshold is --terminated-pod-gc-threshold: finished pods kept
	// before the oldest are deleted.
	DefaultTerminatedThreshold = 12500
	// DefaultPeriod is how often the collector looks (gcCheckPeriod).
	DefaultPeriod = 20 * time.Second
	// DefaultQuarantine is how long a node must stay missing before its pods go.
	DefaultQuarantine = 40 * time.Second
)

const (
	reasonDeletionByPodGC = "DeletionByPodGC"
	msgNodeGone           = "PodGC: node no longer exists"
	msgOutOfService       = "PodGC: node is out of service"
	msgUnscheduled        = "PodGC: unscheduled pod is terminating"
)

// Options tune the collector; zero fields take the defaults, negative ones are refused.
type Options struct {
	TerminatedThreshold int
	Period, Quarantine  time.Duration
}

// Controller collects pods.
type Controller struct {
	client kubernetes.Interface
	pods   corelisters.PodLister
	nodes  corelisters.NodeLister
	synced []cache.InformerSynced
	opts   Options
	now    func() time.Time
	log    *slog.Logger

	mu sync.Mutex
	// missing is when each absent node was first seen missing.
	missing map[string]time.Time
}

// New makes the collector.
func New(client kubernetes.Interface, pods coreinformers.PodInformer, nodes coreinformers.NodeInformer, opts Options, log *slog.Logger) (*Controller, error) {
	if opts.TerminatedThreshold < 0 || opts.Period < 0 || opts.Quarantine < 0 {
		return nil, fmt.Errorf("pod garbage collector options %+v: none may be negative", opts)
	}
	if opts.TerminatedThreshold == 0 {
		opts.TerminatedThreshold = DefaultTerminatedThreshold
	}
	if opts.Period == 0 {
		opts.Period = DefaultPeriod
	}
	if opts.Quarantine == 0 {
		opts.Quarantine = DefaultQuarantine
	}
	return &Controller{
		client: client, pods: pods.Lister(), nodes: nodes.Lister(),
		synced: []cache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced},
		opts:   opts, now: time.Now, log: log, missing: map[string]time.Time{},
	}, nil
}

// Run collects every period until ctx ends, with up to workers pods being deleted at
// once (a pass may find thousands of finished pods above the threshold).
func (c *Controller) Run(ctx context.Context, workers int) {
	if !cache.WaitForNamedCacheSync("podgc", ctx.Done(), c.synced...) {
		return
	}
	tick := time.NewTicker(c.opts.Period)
	defer tick.Stop()
	for {
		if err := c.collect(ctx, workers); err != nil && ctx.Err() == nil {
			c.log.Warn("pod garbage collection", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// victim is a pod a pass deletes, and the condition it is marked with first.
type victim struct {
	pod  *corev1.Pod
	cond *corev1.PodCondition
}

// collect makes one pass, deleting up to workers pods at once.
func (c *Controller) collect(ctx context.Context, workers int) error {
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return err
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	victims := c.terminated(pods)
	victims = append(victims, outOfService(pods, nodes)...)
	orphaned, err := c.orphaned(ctx, pods, nodes)
	victims = append(victims, orphaned...)
	victims = append(victims, unscheduledTerminating(pods)...)
	return errors.Join(err, c.forceDeleteAll(ctx, victims, workers))
}

// forceDeleteAll deletes each victim once, up to workers at a time.
func (c *Controller) forceDeleteAll(ctx context.Context, victims []victim, workers int) error {
	var g errgroup.Group
	g.SetLimit(max(workers, 1))
	errs := make([]error, len(victims))
	seen := map[types.UID]bool{}
	for i, v := range victims {
		if seen[v.pod.UID] {
			continue
		}
		seen[v.pod.UID] = true
		g.Go(func() error {
			errs[i] = c.forceDelete(ctx, v.pod, v.cond)
			return nil
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

// terminated picks the oldest finished pods above the threshold.
func (c *Controller) terminated(pods []*corev1.Pod) []victim {
	var done []*corev1.Pod
	for _, p := range pods {
		if podcontrol.IsTerminal(p) {
			done = append(done, p)
		}
	}
	n := len(done) - c.opts.TerminatedThreshold
	if n <= 0 {
		return nil
	}
	sort.Slice(done, func(i, j int) bool { return evictedFirstThenOldest(done[i], done[j]) })
	c.log.Info("garbage collecting terminated pods", "count", n, "threshold", c.opts.TerminatedThreshold)
	var out []victim
	for _, p := range done[:n] {
		out = append(out, victim{pod: p})
	}
	return out
}

// evictedFirstThenOldest orders finished pods for deletion: evicted ones, then by age.
func evictedFirstThenOldest(a, b *corev1.Pod) bool {
	ea, eb := a.Status.Reason == "Evicted", b.Status.Reason == "Evicted"
	if ea != eb {
		return ea
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// outOfService picks terminating pods on nodes that are not ready and carry the
// node.kubernetes.io/out-of-service taint: an operator said they are gone.
func outOfService(pods []*corev1.Pod, nodes []*corev1.Node) []victim {
	out := map[string]bool{}
	for _, n := range nodes {
		if !ready(n) && hasTaint(n, corev1.TaintNodeOutOfService) {
			out[n.Name] = true
		}
	}
	if len(out) == 0 {
		return nil
	}
	var victims []victim
	for _, p := range pods {
		if p.DeletionTimestamp != nil && !podcontrol.IsTerminal(p) && out[p.Spec.NodeName] {
			victims = append(victims, victim{p, disruption(msgOutOfService)})
		}
	}
	return victims
}

// orphaned picks pods bound to nodes that have been missing for the quarantine
// period, after asking the API once more that the node is gone.
func (c *Controller) orphaned(ctx context.Context, pods []*corev1.Pod, nodes []*corev1.Node) ([]victim, error) {
	exists := map[string]bool{}
	for _, n := range nodes {
		exists[n.Name] = true
	}
	now := c.now()
	c.mu.Lock()
	seen := map[string]bool{}
	var due []string
	for _, p := range pods {
		n := p.Spec.NodeName
		if n == "" || exists[n] || seen[n] {
			continue
		}
		seen[n] = true
		since, ok := c.missing[n]
		if !ok {
			c.missing[n] = now
			continue
		}
		if now.Sub(since) >= c.opts.Quarantine {
			due = append(due, n)
		}
	}
	for n := range c.missing {
		if !seen[n] {
			delete(c.missing, n)
		}
	}
	c.mu.Unlock()

	gone := map[string]bool{}
	for _, n := range due {
		_, err := c.client.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			gone[n] = true
		case err != nil:
			return nil, fmt.Errorf("check node %s: %w", n, err)
		default:
			// Back, or our cache lags: start the quarantine over.
			c.mu.Lock()
			delete(c.missing, n)
			c.mu.Unlock()
		}
	}
	var victims []victim
	for _, p := range pods {
		if gone[p.Spec.NodeName] {
			c.log.Info("deleting pod of a deleted node", "pod", p.Namespace+"/"+p.Name, "node", p.Spec.NodeName)
			victims = append(victims, victim{p, disruption(msgNodeGone)})
		}
	}
	return victims, nil
}

// unscheduledTerminating picks terminating pods no kubelet will confirm, because
// none runs them.
func unscheduledTerminating(pods []*corev1.Pod) []victim {
	var victims []victim
	for _, p := range pods {
		if p.DeletionTimestamp != nil && p.Spec.NodeName == "" {
			victims = append(victims, victim{p, disruption(msgUnscheduled)})
		}
	}
	return victims
}

// forceDelete marks a pod that has not finished Failed (with cond, when given), so
// its owner counts it, then deletes it without grace.
func (c *Controller) forceDelete(ctx context.Context, p *corev1.Pod, cond *corev1.PodCondition) error {
	if !podcontrol.IsTerminal(p) {
		p = p.DeepCopy()
		p.Status.Phase = corev1.PodFailed
		if cond != nil {
			cond.LastTransitionTime = metav1.NewTime(c.now())
			setPodCondition(&p.Status, *cond)
		}
		_, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("mark pod %s/%s failed: %w", p.Namespace, p.Name, err)
		}
	}
	err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &p.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}

func disruption(msg string) *corev1.PodCondition {
	return &corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: reasonDeletionByPodGC, Message: msg}
}

func setPodCondition(s *corev1.PodStatus, cond corev1.PodCondition) {
	for i := range s.Conditions {
		if s.Conditions[i].Type == cond.Type {
			if s.Conditions[i].Status == cond.Status {
				cond.LastTransitionTime = s.Conditions[i].LastTransitionTime
			}
			s.Conditions[i] = cond
			return
		}
	}
	s.Conditions = append(s.Conditions, cond)
}

func ready(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func hasTaint(n *corev1.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}
