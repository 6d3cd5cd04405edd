package cluster

import (
	"slices"
	"testing"

	"github.com/kindlike/kindlike/config"
)

func TestNodeNames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes []config.ClusterNode
		want  []string
	}{
		{"kind's numbering", config.DefaultNodes(3, 2), []string{"demo-control-plane", "demo-control-plane2", "demo-control-plane3", "demo-worker", "demo-worker2"}},
		{"single", config.DefaultNodes(1, 0), []string{"demo-control-plane"}},
		{"own names", []config.ClusterNode{{Role: "control-plane"}, {Role: "worker", Name: "gpu"}, {Role: "worker"}}, []string{"demo-control-plane", "demo-gpu", "demo-worker"}},
		{"own name taking a numbered one", []config.ClusterNode{{Role: "worker"}, {Role: "worker", Name: "worker"}}, []string{"demo-worker2", "demo-worker"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := nodeNames("demo", tc.nodes)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNodeIndex(t *testing.T) {
	for _, tc := range []struct {
		name string
		want int
	}{
		{"demo-worker", 1}, {"demo-worker2", 2}, {"demo-worker12", 12},
		{"demo-worker1", 0}, {"demo-worker02", 0}, {"demo-workerx", 0}, {"demo-gpu", 0}, {"other-worker", 0},
	} {
		if got := nodeIndex("demo", "worker", tc.name); got != tc.want {
			t.Errorf("nodeIndex(%q) = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestNextNodeName(t *testing.T) {
	existing := []string{"demo-control-plane", "demo-worker", "demo-worker3", "demo-gpu"}
	if got := nextNodeName("demo", "worker", existing); got != "demo-worker4" {
		t.Errorf("next worker: %s, want demo-worker4 (never reuse a removed node's name)", got)
	}
	if got := nextNodeName("demo", "control-plane", existing); got != "demo-control-plane2" {
		t.Errorf("next control plane: %s", got)
	}
	if got := nextNodeName("demo", "worker", nil); got != "demo-worker" {
		t.Errorf("first worker: %s", got)
	}
}

func TestCompareNodeNames(t *testing.T) {
	names := []string{"demo-worker10", "demo-worker2", "demo-worker", "demo-gpu"}
	slices.SortFunc(names, compareNodeNames)
	want := []string{"demo-gpu", "demo-worker", "demo-worker2", "demo-worker10"}
	if !slices.Equal(names, want) {
		t.Fatalf("sorted %q, want %q", names, want)
	}
}
