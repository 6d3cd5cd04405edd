// Package config holds kindlike's configuration types: the cluster config a user
// writes (apiVersion kindlike.dev/v1alpha1, kind Cluster), the timing settings with
// their defaults, and the node config the host CLI hands each node container.
package config

import (
	"fmt"
	"time"
)

// APIVersion and Kind of a cluster config file.
const (
	APIVersion  = "kindlike.dev/v1alpha1"
	ClusterKind = "Cluster"
	NodeKind    = "Node"
)

// Roles of nodes.
const (
	RoleControlPlane = "control-plane"
	RoleWorker       = "worker"
)

// Duration is a time.Duration written as "10s" in YAML and JSON.
type Duration struct{ time.Duration }

// MarshalText writes the duration as Go does ("1m30s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads "10s", "1m30s".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q: %w", b, err)
	}
	d.Duration = v
	return nil
}

// Timing holds the cluster's heartbeat and failure-handling clocks. Kubernetes' own
// defaults are minutes; kindlike's demo defaults are seconds, so a lesson sees a node go
// NotReady in about ten seconds and its pods evicted in about thirty.
type Timing struct {
	// NodeLeaseDuration is the duration agents write into their Lease.
	NodeLeaseDuration Duration `json:"nodeLeaseDuration"`
	// NodeLeaseRenewInterval is how often an agent renews its Lease.
	NodeLeaseRenewInterval Duration `json:"nodeLeaseRenewInterval"`
	// NodeStatusUpdateInterval is how often an agent computes its Node status, and
	// posts it if it changed (kubelet's nodeStatusUpdateFrequency).
	NodeStatusUpdateInterval Duration `json:"nodeStatusUpdateInterval"`
	// NodeStatusReportInterval is how often an agent posts its Node status even when
	// nothing changed (kubelet's nodeStatusReportFrequency): between, the Lease alone
	// says the node is alive, so `kubectl get nodes -w` stays quiet.
	NodeStatusReportInterval Duration `json:"nodeStatusReportInterval"`
	// NodeMonitorPeriod is how often the node lifecycle controller checks leases.
	NodeMonitorPeriod Duration `json:"nodeMonitorPeriod"`
	// NodeMonitorGracePeriod is how long a lease may go unrenewed before the node is
	// Ready=Unknown ("Kubelet stopped posting node status.").
	NodeMonitorGracePeriod Duration `json:"nodeMonitorGracePeriod"`
	// PodEvictionTimeout is how long pods tolerate an unreachable or not-ready node
	// (the tolerationSeconds given to every pod) before they are evicted.
	PodEvictionTimeout Duration `json:"podEvictionTimeout"`
}

// TimingPresets name the timing sets users choose with --timing.
const (
	TimingDemo       = "demo"
	TimingKubernetes = "kubernetes"
)

// DemoTiming is kindlike's default: failure visible within a lesson.
func DemoTiming() Timing {
	return Timing{
		NodeLeaseDuration:        Duration{8 * time.Second},
		NodeLeaseRenewInterval:   Duration{2 * time.Second},
		NodeStatusUpdateInterval: Duration{10 * time.Second},
		NodeStatusReportInterval: Duration{time.Minute},
		NodeMonitorPeriod:        Duration{time.Second},
		NodeMonitorGracePeriod:   Duration{10 * time.Second},
		PodEvictionTimeout:       Duration{20 * time.Second},
	}
}

// KubernetesTiming is upstream Kubernetes' defaults (v1.32).
func KubernetesTiming() Timing {
	return Timing{
		NodeLeaseDuration:        Duration{40 * time.Second},
		NodeLeaseRenewInterval:   Duration{10 * time.Second},
		NodeStatusUpdateInterval: Duration{10 * time.Second},
		NodeStatusReportInterval: Duration{5 * time.Minute},
		NodeMonitorPeriod:        Duration{5 * time.Second},
		NodeMonitorGracePeriod:   Duration{50 * time.Second},
		PodEvictionTimeout:       Duration{300 * time.Second},
	}
}

// TimingPreset returns the named preset.
func TimingPreset(name string) (Timing, error) {
	switch name {
	case "", TimingDemo:
		return DemoTiming(), nil
	case TimingKubernetes:
		return KubernetesTiming(), nil
	}
	return Timing{}, fmt.Errorf("unknown timing %q: use %q or %q", name, TimingDemo, TimingKubernetes)
}

// WithDefaults fills zero fields from base.
func (t Timing) WithDefaults(base Timing) Timing {
	fill := func(d *Duration, def Duration) {
		if d.Duration == 0 {
			*d = def
		}
	}
	fill(&t.NodeLeaseDuration, base.NodeLeaseDuration)
	fill(&t.NodeLeaseRenewInterval, base.NodeLeaseRenewInterval)
	fill(&t.NodeStatusUpdateInterval, base.NodeStatusUpdateInterval)
	fill(&t.NodeStatusReportInterval, base.NodeStatusReportInterval)
	fill(&t.NodeMonitorPeriod, base.NodeMonitorPeriod)
	fill(&t.NodeMonitorGracePeriod, base.NodeMonitorGracePeriod)
	fill(&t.PodEvictionTimeout, base.PodEvictionTimeout)
	return t
}

// Validate says what is wrong with the settings, naming the field.
func (t Timing) Validate() error {
	positive := map[string]Duration{
		"timing.nodeLeaseDuration": t.NodeLeaseDuration, "timing.nodeLeaseRenewInterval": t.NodeLeaseRenewInterval,
		"timing.nodeStatusUpdateInterval": t.NodeStatusUpdateInterval, "timing.nodeStatusReportInterval": t.NodeStatusReportInterval,
		"timing.nodeMonitorPeriod":      t.NodeMonitorPeriod,
		"timing.nodeMonitorGracePeriod": t.NodeMonitorGracePeriod, "timing.podEvictionTimeout": t.PodEvictionTimeout,
	}
	for name, d := range positive {
		if d.Duration <= 0 {
			return fmt.Errorf("%s: must be a positive duration, got %s", name, d)
		}
	}
	if t.NodeLeaseRenewInterval.Duration >= t.NodeMonitorGracePeriod.Duration {
		return fmt.Errorf("timing.nodeLeaseRenewInterval (%s) must be shorter than timing.nodeMonitorGracePeriod (%s), or healthy nodes would be marked lost",
			t.NodeLeaseRenewInterval, t.NodeMonitorGracePeriod)
	}
	return nil
}
