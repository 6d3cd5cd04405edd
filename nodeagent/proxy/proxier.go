package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netns"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// Defaults for Options.
const (
	// DefaultMinSyncInterval batches a burst of changes (a Deployment rolling) into one
	// table rewrite.
	DefaultMinSyncInterval = 100 * time.Millisecond
	// DefaultSyncPeriod rewrites the table even without changes, repairing anything
	// that edited it behind our back.
	DefaultSyncPeriod = 60 * time.Second
	// DefaultInterface is the node container's interface on the cluster network.
	DefaultInterface = "eth0"
	// retryInterval spaces attempts after a failed sync.
	retryInterval = time.Second
)

// Options configure a Proxier.
type Options struct {
	Client      kubernetes.Interface
	NodeName    string       // endpoints with this nodeName are local
	NodeIP      netip.Addr   // this node's cluster address, for logs
	ServiceCIDR netip.Prefix // ClusterIP range; unDNATed traffic to it is rejected
	// LBRange bounds the load-balancer addresses this node adds to and removes from
	// Interface; zero means never touch addresses.
	LBRange   netip.Prefix
	Interface string // default DefaultInterface
	Logger    *slog.Logger

	MinSyncInterval time.Duration // default DefaultMinSyncInterval
	SyncPeriod      time.Duration // default DefaultSyncPeriod
}

// Proxier keeps the current network namespace's table ip kindlike in step with the
// API's Services and EndpointSlices.
type Proxier struct {
	opts     Options
	log      *slog.Logger
	ns       netns.NsHandle // netns.None(): the caller's own
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	changed  chan struct{}
	// lastSync is when the table last matched the API (Unix ns; 0: never yet).
	lastSync atomic.Int64
}

// Healthy says whether the rules were written since the watch caches synced and
// not longer ago than twice the resync period: kube-proxy's /healthz.
func (p *Proxier) Healthy() bool {
	last := p.lastSync.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < 2*p.opts.SyncPeriod+retryInterval
}

// New checks the options and fills in defaults.
func New(opts Options) (*Proxier, error) {
	if opts.Client == nil || opts.NodeName == "" {
		return nil, errors.New("kube-proxy needs an API client and the node name")
	}
	if !opts.ServiceCIDR.Addr().Is4() {
		return nil, fmt.Errorf("service CIDR %s: want an IPv4 prefix such as 10.96.0.0/12", opts.ServiceCIDR)
	}
	if opts.Interface == "" {
		opts.Interface = DefaultInterface
	}
	if opts.MinSyncInterval <= 0 {
		opts.MinSyncInterval = DefaultMinSyncInterval
	}
	if opts.SyncPeriod <= 0 {
		opts.SyncPeriod = DefaultSyncPeriod
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Proxier{opts: opts, log: opts.Logger, ns: netns.None(), changed: make(chan struct{}, 1)}, nil
}

// Run watches Services and EndpointSlices and rewrites the table on every change, at
// most once per MinSyncInterval, and every SyncPeriod regardless. It returns when ctx
// ends, leaving the rules in place as kube-proxy does, so a restart does not cut
// Service traffic.
func (p *Proxier) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactory(p.opts.Client, 0)
	svcInformer := factory.Core().V1().Services()
	sliceInformer := factory.Discovery().V1().EndpointSlices()
	p.services, p.slices = svcInformer.Lister(), sliceInformer.Lister()
	// Level-triggered: an event only says "look again"; the sync reads the listers.
	poke := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.poke() },
		UpdateFunc: func(any, any) { p.poke() },
		DeleteFunc: func(any) { p.poke() },
	}
	if _, err := svcInformer.Informer().AddEventHandler(poke); err != nil {
		return fmt.Errorf("watch services: %w", err)
	}
	if _, err := sliceInformer.Informer().AddEventHandler(poke); err != nil {
		return fmt.Errorf("watch endpointslices: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	p.log.Info("kube-proxy starting", "mode", "nftables", "table", "ip "+TableName,
		"node", p.opts.NodeName, "nodeIP", p.opts.NodeIP, "serviceCIDR", p.opts.ServiceCIDR,
		"lbRange", p.opts.LBRange, "interface", p.opts.Interface)
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("sync %v cache: informer stopped", typ)
		}
	}

	period := time.NewTicker(p.opts.SyncPeriod)
	defer period.Stop()
	var retry <-chan time.Time
	for {
		if err := p.sync(); err != nil {
			p.log.Error("sync failed; retrying", "err", err, "after", retryInterval)
			retry = time.After(retryInterval)
		} else {
			retry = nil
			p.lastSync.Store(time.Now().UnixNano())
		}
		select {
		case <-ctx.Done():
			p.log.Info("kube-proxy stopping; rules stay in place")
			return nil
		case <-period.C:
		case <-retry:
		case <-p.changed:
			// Let the rest of a burst arrive before reading the listers.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(p.opts.MinSyncInterval):
			}
			select {
			case <-p.changed:
			default:
			}
		}
	}
}

func (p *Proxier) poke() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// sync rewrites the whole table from the listers' current state.
func (p *Proxier) sync() error {
	start := time.Now()
	svcs, err := p.services.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	slices, err := p.slices.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list endpointslices: %w", err)
	}
	plan := BuildPlan(PlanInput{Services: svcs, Slices: slices, NodeName: p.opts.NodeName, ServiceCIDR: p.opts.ServiceCIDR})
	if err := p.programmer().apply(plan); err != nil {
		return err
	}
	if err := syncAddresses(p.ns, p.opts.Interface, p.opts.LBRange, plan.LoadBalancerIPs, p.log); err != nil {
		return err
	}
	p.log.Info(fmt.Sprintf("synced rules: %d services, %d endpoints, %d ms", plan.Services, plan.Endpoints, time.Since(start).Milliseconds()),
		"chains", len(plan.Chains), "affinitySets", len(plan.Sets), "loadBalancerIPs", len(plan.LoadBalancerIPs))
	return nil
}

func (p *Proxier) programmer() programmer {
	if p.ns.IsOpen() {
		return programmer{netns: int(p.ns)}
	}
	return programmer{}
}

// Rules writes the current network namespace's table ip kindlike, as the kernel holds
// it, in nft-like text: chains, rules with packet counters, affinity sets with the
// clients they remember.
func Rules(w io.Writer) error {
	st, err := programmer{}.read()
	if errors.Is(err, errNoTable) {
		return fmt.Errorf("%w in this network namespace: is kube-proxy running on this node? (run this inside a node: docker exec <node> /kindlike kube-proxy rules)", err)
	}
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, st.format())
	return err
}
