package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kindlike/kindlike/kubeconfig"
)

// Delete removes everything labelled with the cluster's name (node containers, the
// load balancer, the pods' containers, volumes, the network) and its kubeconfig
// entry from the file at kubeconfigPath ("" leaves kubeconfig alone). found is false
// if there was nothing to remove.
func Delete(ctx context.Context, p Provider, clusterName, kubeconfigPath string) (found bool, err error) {
	if err := p.Ping(ctx); err != nil {
		return false, err
	}
	objs, err := p.Objects(ctx, clusterName)
	if err != nil {
		return false, err
	}
	if err := deleteObjects(ctx, p, clusterName, objs); err != nil || !objs.Empty() {
		// Agents may have had containers on their way when their nodes died: the engine
		// finishes a create it had accepted. Look again until nothing is left.
		if err := deleteUntilGone(ctx, p, clusterName); err != nil {
			return !objs.Empty(), err
		}
	}
	if kubeconfigPath != "" {
		if err := kubeconfig.Remove(kubeconfigPath, ContextName(clusterName)); err != nil {
			return !objs.Empty(), err
		}
	}
	return !objs.Empty(), nil
}

// deleteObjects removes objs, what carries the cluster's label: containers (all at
// once), then the volumes and networks they used.
func deleteObjects(ctx context.Context, p Provider, clusterName string, objs Objects) error {
	var errs []error
	del := func(items []Object, f func(context.Context, string) error) {
		err := forEach(ctx, items, func(ctx context.Context, o Object) error {
			if err := f(ctx, o.Name); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	// Node containers first: their agents would otherwise start pod containers again
	// as they are removed. Pods' containers end with their node's PID namespace.
	nodes, pods := splitNodes(objs.Containers)
	del(nodes, p.DeleteContainer)
	if len(pods) > 0 {
		if settled, err := settle(ctx, p, clusterName); err == nil {
			_, pods = splitNodes(settled.Containers)
		}
	}
	del(pods, p.DeleteContainer)
	del(objs.Volumes, p.DeleteVolume)
	del(objs.Networks, p.DeleteNetwork)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete cluster %s: %w", clusterName, err)
	}
	return nil
}

func splitNodes(containers []Object) (nodes, pods []Object) {
	for _, c := range containers {
		if c.Node == "" {
			nodes = append(nodes, c)
		} else {
			pods = append(pods, c)
		}
	}
	return nodes, pods
}

// Settling: how long the listing of a cluster's containers must stay the same, and
// how long to wait for that at most.
var (
	settleQuiet = time.Second
	settleMax   = 10 * time.Second
)

// settle waits until the cluster's containers stop changing once its agents are gone:
// the engine finishes the creates and starts they had sent, and pods' containers exit
// with their node. Removing a container the engine is still starting can leave the
// network holding an endpoint that no container has, which the engine then refuses
// to remove ("has active endpoints") until it is restarted.
func settle(ctx context.Context, p Provider, clusterName string) (Objects, error) {
	var last string
	var objs Objects
	since := time.Now()
	deadline := since.Add(settleMax)
	for {
		var err error
		if objs, err = p.Objects(ctx, clusterName); err != nil {
			return objs, err
		}
		var b strings.Builder
		for _, c := range objs.Containers {
			b.WriteString(c.Name + "=" + c.State + ";")
		}
		now := time.Now()
		if b.String() != last {
			last, since = b.String(), now
		} else if now.Sub(since) >= settleQuiet || now.After(deadline) {
			return objs, nil
		}
		select {
		case <-ctx.Done():
			return objs, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// deleteUntilGone deletes the cluster's objects until none is left. Requests that an
// interrupted create sent may still be carried out by the engine after it answered
// them with an error, creating containers after they were listed for removal; so
// this looks again, after a pause, until nothing new appears.
func deleteUntilGone(ctx context.Context, p Provider, clusterName string) error {
	objs, err := p.Objects(ctx, clusterName)
	if err != nil {
		return err
	}
	var lastErr error
	for attempt := 0; attempt < 8; attempt++ {
		if objs.Empty() {
			return nil
		}
		// A failure (a volume still in use by a container that appeared after the
		// listing) is retried with the next listing.
		lastErr = deleteObjects(ctx, p, clusterName, objs)
		if objs, err = p.Objects(ctx, clusterName); err != nil {
			return err
		}
		if objs.Empty() {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(lastErr, ctx.Err())
		case <-time.After(time.Duration(attempt+1) * 250 * time.Millisecond):
		}
		if objs, err = p.Objects(ctx, clusterName); err != nil {
			return err
		}
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("delete cluster %s: objects keep appearing", clusterName)
	}
	return lastErr
}

// List names the clusters that exist: every value of the cluster label on a
// container, volume or network, sorted.
func List(ctx context.Context, p Provider) ([]string, error) {
	if err := p.Ping(ctx); err != nil {
		return nil, err
	}
	objs, err := p.Objects(ctx, "")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var names []string
	for _, list := range [][]Object{objs.Containers, objs.Volumes, objs.Networks} {
		for _, o := range list {
			if o.Cluster != "" && !seen[o.Cluster] {
				seen[o.Cluster] = true
				names = append(names, o.Cluster)
			}
		}
	}
	slices.Sort(names)
	return names, nil
}
