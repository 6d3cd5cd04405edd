package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// DefaultClusterName is the cluster name when neither --name nor the config gives one.
const DefaultClusterName = "kindlike"

// MaxClusterNameLength keeps every name derived from the cluster's a valid host name:
// the longest, <name>-external-load-balancer, must fit in 63 characters.
const MaxClusterNameLength = 63 - len("-external-load-balancer")

// Cluster is the cluster config a user writes (kind: Cluster), modelled on kind's.
type Cluster struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Name is the cluster's name; --name overrides it.
	Name string `json:"name,omitempty"`
	// Nodes lists the nodes; empty means --control-planes and --nodes decide.
	Nodes      []ClusterNode `json:"nodes,omitempty"`
	Networking Networking    `json:"networking,omitempty"`
	Timing     ClusterTiming `json:"timing,omitempty"`
}

// ClusterNode is one node of a cluster config.
type ClusterNode struct {
	// Role is control-plane or worker.
	Role string `json:"role"`
	// Name, when set, names the node <cluster>-<name> instead of the numbered default
	// (<cluster>-control-plane2, <cluster>-worker3).
	Name   string            `json:"name,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	Taints []Taint           `json:"taints,omitempty"`
	// Capacity overrides what the node reports of the host's: cpu, memory, pods,
	// ephemeral-storage.
	Capacity map[string]string `json:"capacity,omitempty"`
}

// Networking is the cluster's network settings.
type Networking struct {
	// Subnet is the IPv4 subnet of the cluster's Docker network, at least a /24; empty
	// picks a free /20 from 10.200.0.0/13. Nodes get fixed addresses from its lower
	// half, pods from its upper half.
	Subnet string `json:"subnet,omitempty"`
	// APIServerPort is the host port (on 127.0.0.1) of the API; 0 picks a free one.
	APIServerPort int `json:"apiServerPort,omitempty"`
}

// ClusterTiming is a timing preset with any of its settings overridden.
type ClusterTiming struct {
	// Preset is demo (default) or kubernetes; --timing overrides it.
	Preset string `json:"preset,omitempty"`
	Timing `json:",inline"`
}

// capacityResources are the capacity keys a node config may set.
var capacityResources = []string{"cpu", "memory", "pods", "ephemeral-storage"}

// serviceRange is the ClusterIP range the API allocates from; the node network must
// stay clear of it so Service addresses never shadow a node or a pod.
var serviceRange = netip.MustParsePrefix("10.96.0.0/12")

// LoadCluster reads and decodes a cluster config file, refusing unknown fields. It
// does not validate: callers apply flags first, then call Validate.
func LoadCluster(path string) (*Cluster, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read cluster config: %w", err)
	}
	c, err := ParseCluster(b)
	if err != nil {
		return nil, fmt.Errorf("cluster config %s: %w", path, err)
	}
	return c, nil
}

// ParseCluster decodes a cluster config, refusing unknown fields, and checks its
// apiVersion and kind.
func ParseCluster(b []byte) (*Cluster, error) {
	// YAMLToJSONStrict refuses duplicate keys; sigs.k8s.io/json then decodes
	// case-sensitively and names unknown fields by their path ("nodes[1].cpus"),
	// which encoding/json does not.
	j, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		return nil, decodeError(err)
	}
	var c Cluster
	strict, err := sjson.UnmarshalStrict(j, &c, sjson.DisallowUnknownFields, sjson.DisallowDuplicateFields)
	if err != nil {
		return nil, decodeError(err)
	}
	if err := errors.Join(strict...); err != nil {
		return nil, decodeError(err)
	}
	if c.APIVersion != APIVersion {
		return nil, fmt.Errorf("apiVersion: got %q, want %q", c.APIVersion, APIVersion)
	}
	if c.Kind != ClusterKind {
		return nil, fmt.Errorf("kind: got %q, want %q", c.Kind, ClusterKind)
	}
	return &c, nil
}

// decodeError strips the layers sigs.k8s.io/yaml and encoding/json put around a
// decoding error, keeping the part that names the field.
func decodeError(err error) error {
	msg := err.Error()
	for _, prefix := range []string{"error converting YAML to JSON: ", "error unmarshaling JSON: ", "while decoding JSON: ", "json: "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	msg = strings.ReplaceAll(msg, "\njson: ", "\n")
	// encoding/json names the Go field path ("Cluster.nodes.labels"); users know the
	// YAML one.
	msg = strings.ReplaceAll(msg, "Go struct field Cluster.", "field ")
	return errors.New(msg)
}

// DefaultNodes is the node list of a cluster made with --control-planes and --nodes.
func DefaultNodes(controlPlanes, workers int) []ClusterNode {
	nodes := make([]ClusterNode, 0, controlPlanes+workers)
	for range controlPlanes {
		nodes = append(nodes, ClusterNode{Role: RoleControlPlane})
	}
	for range workers {
		nodes = append(nodes, ClusterNode{Role: RoleWorker})
	}
	return nodes
}

// ControlPlanes counts the control-plane nodes.
func (c *Cluster) ControlPlanes() int {
	n := 0
	for _, node := range c.Nodes {
		if node.Role == RoleControlPlane {
			n++
		}
	}
	return n
}

// EffectiveTiming is the preset with the config's overrides applied.
func (c *Cluster) EffectiveTiming() (Timing, error) {
	base, err := TimingPreset(c.Timing.Preset)
	if err != nil {
		return Timing{}, fmt.Errorf("timing.preset: %w", err)
	}
	return c.Timing.Timing.WithDefaults(base), nil
}

// Validate says what is wrong with the config, naming the field and why. Warnings
// are things that work but that the user probably did not mean.
func (c *Cluster) Validate() (warnings []string, err error) {
	var errs []error
	if err := ValidateClusterName(c.Name); err != nil {
		errs = append(errs, fmt.Errorf("name: %w", err))
	}
	if len(c.Nodes) == 0 {
		errs = append(errs, errors.New("nodes: a cluster needs at least one control-plane node"))
	}
	names := map[string]int{}
	for i, n := range c.Nodes {
		field := fmt.Sprintf("nodes[%d]", i)
		errs = append(errs, n.validate(field, c.Name)...)
		if n.Name != "" {
			if j, dup := names[n.Name]; dup {
				errs = append(errs, fmt.Errorf("%s.name: %q is already the name of nodes[%d]", field, n.Name, j))
			}
			names[n.Name] = i
		}
	}
	cps := c.ControlPlanes()
	if len(c.Nodes) > 0 && cps == 0 {
		errs = append(errs, errors.New("nodes: no node has role control-plane; a cluster needs at least one"))
	}
	if cps > 1 && cps%2 == 0 {
		warnings = append(warnings, fmt.Sprintf("%d control planes tolerate no more failures than %d: Raft needs a majority, so an odd number is better", cps, cps-1))
	}
	errs = append(errs, c.Networking.validate()...)
	if t, err := c.EffectiveTiming(); err != nil {
		errs = append(errs, err)
	} else if err := t.Validate(); err != nil {
		errs = append(errs, err)
	}
	return warnings, errors.Join(errs...)
}

// ValidateClusterName checks a cluster name: a DNS label short enough for every
// container name derived from it.
func ValidateClusterName(name string) error {
	if name == "" {
		return errors.New("must not be empty")
	}
	if len(name) > MaxClusterNameLength {
		return fmt.Errorf("%q is %d characters long; at most %d fit in the names of its containers", name, len(name), MaxClusterNameLength)
	}
	if len(validation.IsDNS1123Label(name)) > 0 {
		return fmt.Errorf("%q is not a valid name: %s", name, dnsLabelRule)
	}
	return nil
}

const dnsLabelRule = "use lower-case letters, digits and '-', starting and ending with a letter or digit"

func (n ClusterNode) validate(field, cluster string) []error {
	var errs []error
	switch n.Role {
	case RoleControlPlane, RoleWorker:
	case "":
		errs = append(errs, fmt.Errorf("%s.role: missing; use %s or %s", field, RoleControlPlane, RoleWorker))
	default:
		errs = append(errs, fmt.Errorf("%s.role: %q is not a role; use %s or %s", field, n.Role, RoleControlPlane, RoleWorker))
	}
	if n.Name != "" {
		full := cluster + "-" + n.Name
		if len(validation.IsDNS1123Label(n.Name)) > 0 {
			errs = append(errs, fmt.Errorf("%s.name: %q is not a valid name: %s", field, n.Name, dnsLabelRule))
		} else if len(full) > 63 {
			errs = append(errs, fmt.Errorf("%s.name: the node name %q would be longer than 63 characters", field, full))
		} else if n.Name == "external-load-balancer" {
			errs = append(errs, fmt.Errorf("%s.name: %q is the load balancer's name", field, n.Name))
		}
	}
	for k, v := range n.Labels {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s.labels: key %q is invalid: %s", field, k, strings.Join(msgs, "; ")))
		}
		if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s.labels[%s]: value %q is invalid: %s", field, k, v, strings.Join(msgs, "; ")))
		}
	}
	for i, t := range n.Taints {
		tf := fmt.Sprintf("%s.taints[%d]", field, i)
		if msgs := validation.IsQualifiedName(t.Key); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s.key: %q is invalid: %s", tf, t.Key, strings.Join(msgs, "; ")))
		}
		if t.Value != "" {
			if msgs := validation.IsValidLabelValue(t.Value); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("%s.value: %q is invalid: %s", tf, t.Value, strings.Join(msgs, "; ")))
			}
		}
		switch t.Effect {
		case "NoSchedule", "PreferNoSchedule", "NoExecute":
		default:
			errs = append(errs, fmt.Errorf("%s.effect: %q is not an effect; use NoSchedule, PreferNoSchedule or NoExecute", tf, t.Effect))
		}
	}
	for k, v := range n.Capacity {
		known := false
		for _, r := range capacityResources {
			known = known || k == r
		}
		if !known {
			errs = append(errs, fmt.Errorf("%s.capacity: %q is not a resource kindlike sets; use %s", field, k, strings.Join(capacityResources, ", ")))
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.capacity.%s: %q is not a quantity (e.g. \"2\", \"500m\", \"4Gi\")", field, k, v))
			continue
		}
		if q.Sign() <= 0 {
			errs = append(errs, fmt.Errorf("%s.capacity.%s: must be positive, got %s", field, k, v))
		}
	}
	return errs
}

func (n Networking) validate() []error {
	var errs []error
	if n.Subnet != "" {
		if _, err := ParseSubnet(n.Subnet); err != nil {
			errs = append(errs, fmt.Errorf("networking.subnet: %w", err))
		}
	}
	if n.APIServerPort < 0 || n.APIServerPort > 65535 {
		errs = append(errs, fmt.Errorf("networking.apiServerPort: %d is not a port; use 1-65535, or 0 for a free one", n.APIServerPort))
	}
	return errs
}

// ParseSubnet reads a cluster subnet: an IPv4 network address with a prefix of at
// most /24 (room for nodes in the lower half and pods in the upper), clear of the
// Service range.
func ParseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR subnet such as 10.210.0.0/20", s)
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%q is not IPv4; kindlike networks are IPv4", s)
	}
	if p.Bits() > 24 {
		return netip.Prefix{}, fmt.Errorf("%q is too small: use a /24 or larger, nodes take the lower half and pods the upper", s)
	}
	if p.Bits() < 8 {
		return netip.Prefix{}, fmt.Errorf("%q is too large: use at most a /8", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set; did you mean %s?", s, p.Masked())
	}
	if p.Overlaps(serviceRange) {
		return netip.Prefix{}, fmt.Errorf("%s overlaps the Service range %s", p, serviceRange)
	}
	if p.Addr().IsLoopback() || p.Addr().IsMulticast() || p.Addr().IsLinkLocalUnicast() {
		return netip.Prefix{}, fmt.Errorf("%s is not a usable subnet", p)
	}
	return p, nil
}
