package scheduler

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// BenchmarkPlace is one scheduling decision's work (node infos, filters, scores) with
// 50 nodes and 1,000 pods bound to them, as at the end of the controlplane package's
// BenchmarkScheduler; the API and the bind are not part of it.
func BenchmarkPlace(b *testing.B) {
	index := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{byNode: func(obj any) ([]string, error) {
		return []string{obj.(*corev1.Pod).Spec.NodeName}, nil
	}})
	var nodes []*corev1.Node
	for i := range 50 {
		nodes = append(nodes, node(fmt.Sprintf("w%02d", i), "8", func(n *corev1.Node) {
			n.Status.Allocatable[corev1.ResourceMemory] = resource.MustParse("16Gi")
		}))
	}
	for i := range 1000 {
		p := pod(fmt.Sprintf("p%04d", i), "100m", func(p *corev1.Pod) {
			p.Spec.NodeName = nodes[i%len(nodes)].Name
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse("64Mi")
			p.ResourceVersion = "1"
		})
		if err := index.Add(p); err != nil {
			b.Fatal(err)
		}
	}
	s := &Scheduler{podIndex: index, now: time.Now, assumed: map[string]assumption{}, unschedulable: map[string]bool{}, requests: map[types.UID]podRequests{}}
	incoming := pod("new", "100m")
	b.ResetTimer()
	for b.Loop() {
		if node, _ := s.place(incoming, nodes); node == "" {
			b.Fatal("no node chosen")
		}
	}
}
