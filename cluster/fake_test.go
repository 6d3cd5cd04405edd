package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// fakeProvider is an in-memory engine, for the logic above the Provider seam. Hooks
// make a call fail.
type fakeProvider struct {
	mu         sync.Mutex
	subnets    []netip.Prefix // of networks that are not kindlike's
	networks   map[string]fakeNetwork
	containers map[string]*fakeContainer
	volumes    map[string]Object
	// failCreate and failStart fail CreateNode / StartNode for the named node.
	failCreate, failStart string
	// createDelay makes CreateNode take time (for cancellation tests).
	createDelay time.Duration
	created     chan string // receives the name of each node created, if not nil
}

type fakeNetwork struct {
	cluster string
	subnet  netip.Prefix
}

type fakeContainer struct {
	spec  NodeSpec
	state string
	files map[string][]byte
}

func newFakeProvider() *fakeProvider {
	return &fakeProvider{networks: map[string]fakeNetwork{}, containers: map[string]*fakeContainer{}, volumes: map[string]Object{}}
}

func (f *fakeProvider) Ping(context.Context) error { return nil }

func (f *fakeProvider) EnsureNodeImage(_ context.Context, binary string) (string, bool, error) {
	return "kindlike/node:test", false, nil
}

func (f *fakeProvider) Subnets(context.Context) ([]netip.Prefix, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.subnets)
	for _, n := range f.networks {
		out = append(out, n.subnet)
	}
	return out, nil
}

func (f *fakeProvider) CreateNetwork(_ context.Context, cluster string, subnet netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := NetworkName(cluster)
	if _, ok := f.networks[name]; ok {
		return fmt.Errorf("network %s exists", name)
	}
	f.networks[name] = fakeNetwork{cluster: cluster, subnet: subnet}
	return nil
}

func (f *fakeProvider) Network(_ context.Context, cluster string) (netip.Prefix, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.networks[NetworkName(cluster)]
	return n.subnet, ok, nil
}

func (f *fakeProvider) CreateNode(ctx context.Context, spec NodeSpec) error {
	if f.createDelay > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(f.createDelay):
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if spec.Name == f.failCreate {
		return fmt.Errorf("create container %s: injected failure", spec.Name)
	}
	if _, ok := f.containers[spec.Name]; ok {
		return fmt.Errorf("container %s exists", spec.Name)
	}
	if spec.StateVolume {
		f.volumes[spec.Name] = Object{Name: spec.Name, Cluster: spec.Cluster, Role: spec.Role}
	}
	c := &fakeContainer{spec: spec, state: "created", files: map[string][]byte{}}
	for _, file := range spec.Files {
		c.files[file.Path] = file.Data
	}
	f.containers[spec.Name] = c
	if f.created != nil {
		f.created <- spec.Name
	}
	return nil
}

func (f *fakeProvider) node(c *fakeContainer) Node {
	n := Node{Name: c.spec.Name, Cluster: c.spec.Cluster, Role: c.spec.Role, State: c.state, IP: c.spec.IP, Image: c.spec.Image}
	if c.spec.PublishAPI {
		n.APIHostPort = c.spec.APIHostPort
	}
	return n
}

func (f *fakeProvider) Nodes(_ context.Context, cluster string) ([]Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Node
	for _, c := range f.containers {
		if (cluster == "" || c.spec.Cluster == cluster) && isNodeRole(c.spec.Role) {
			out = append(out, f.node(c))
		}
	}
	return out, nil
}

func isNodeRole(role string) bool {
	return role == "control-plane" || role == "worker" || role == RoleLoadBalancer
}

func (f *fakeProvider) Node(_ context.Context, name string) (Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[name]
	if !ok {
		return Node{}, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return f.node(c), nil
}

func (f *fakeProvider) StartNode(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if name == f.failStart {
		return fmt.Errorf("start %s: injected failure", name)
	}
	c, ok := f.containers[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	c.state = "running"
	return nil
}

func (f *fakeProvider) StopNode(_ context.Context, name string, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	c.state = "exited"
	return nil
}

func (f *fakeProvider) Objects(_ context.Context, cluster string) (Objects, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var o Objects
	for _, c := range f.containers {
		if cluster == "" || c.spec.Cluster == cluster {
			o.Containers = append(o.Containers, Object{Name: c.spec.Name, Cluster: c.spec.Cluster, Role: c.spec.Role})
		}
	}
	for _, v := range f.volumes {
		if cluster == "" || v.Cluster == cluster {
			o.Volumes = append(o.Volumes, v)
		}
	}
	for name, n := range f.networks {
		if cluster == "" || n.cluster == cluster {
			o.Networks = append(o.Networks, Object{Name: name, Cluster: n.cluster})
		}
	}
	return o, nil
}

func (f *fakeProvider) DeleteContainer(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.containers[name]; !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	delete(f.containers, name)
	return nil
}

func (f *fakeProvider) DeleteVolume(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.containers {
		if c.spec.StateVolume && c.spec.Name == name {
			return fmt.Errorf("volume %s in use", name)
		}
	}
	delete(f.volumes, name)
	return nil
}

func (f *fakeProvider) DeleteNetwork(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.networks[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	for _, c := range f.containers {
		if c.spec.Cluster == n.cluster {
			return fmt.Errorf("network %s has active endpoints", name)
		}
	}
	delete(f.networks, name)
	return nil
}

func (f *fakeProvider) WriteFiles(_ context.Context, name string, files []File) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	for _, file := range files {
		c.files[file.Path] = file.Data
	}
	return nil
}

func (f *fakeProvider) ReadFile(_ context.Context, name, path string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	b, ok := c.files[path]
	if !ok {
		return nil, fmt.Errorf("%w: %s:%s", ErrNotFound, name, path)
	}
	return b, nil
}

func (f *fakeProvider) Logs(_ context.Context, name string, w io.Writer) error {
	_, err := fmt.Fprintf(w, "log of %s\n", name)
	return err
}

func (f *fakeProvider) Inspect(context.Context, string) ([]byte, error) { return []byte("{}"), nil }

func (f *fakeProvider) MemoryUsage(context.Context, string) (uint64, error) {
	return 0, errors.New("not implemented")
}

// recorder is a Progress that keeps the steps.
type recorder struct {
	mu    sync.Mutex
	steps []string
	step  string
}

func (r *recorder) Start(step string) {
	r.End(true)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.step = step
}
func (r *recorder) Update(step string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.step = step
}
func (r *recorder) End(ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.step == "" {
		return
	}
	mark := "✓ "
	if !ok {
		mark = "✗ "
	}
	r.steps = append(r.steps, mark+r.step)
	r.step = ""
}
func (r *recorder) Printf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps = append(r.steps, fmt.Sprintf(format, args...))
}
