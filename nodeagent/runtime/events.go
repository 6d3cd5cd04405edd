package runtime

import (
	"context"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// WatchPods calls changed with the pod UID of every container of this node that
// starts, dies, runs out of memory or is removed, until ctx ends; a broken event
// stream is reopened.
func (r *Runtime) WatchPods(ctx context.Context, changed func(uid string)) {
	f := r.nodeFilter()
	f.Add("type", string(events.ContainerEventType))
	for _, a := range []events.Action{events.ActionStart, events.ActionDie, events.ActionOOM, events.ActionDestroy} {
		f.Add("event", string(a))
	}
	for ctx.Err() == nil {
		msgs, errs := r.docker.Events(ctx, events.ListOptions{Filters: filters.Args(f)})
	stream:
		for {
			select {
			case <-ctx.Done():
				return
			case <-errs:
				break stream
			case m := <-msgs:
				if m.Action == events.ActionDestroy {
					r.Forget(m.Actor.ID)
				}
				if uid := m.Actor.Attributes[LabelPodUID]; uid != "" {
					changed(uid)
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
