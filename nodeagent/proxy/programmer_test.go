package proxy

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"net/netip"
	"regexp"
	"testing"
)

// The table read back from the kernel is the plan that was written: every
// expression encode writes, decode understands.
func TestProgrammerRoundTrip(t *testing.T) {
	requireRoot(t)
	_, ns := newNetns(t, "roundtrip")
	plan := BuildPlan(PlanInput{
		Services: []*corev1.Service{
			svc("default", "web", "10.96.0.20", svcPort("http", "TCP", 80, 30080), lbIngress("n1", "10.200.15.1"), clientIPAffinity(60)),
			svc("default", "dns", "10.96.0.10", svcPort("dns", "UDP", 53, 0), svcPort("dns-tcp", "TCP", 53, 0)),
			svc("default", "empty", "10.96.0.30", svcPort("", "SCTP", 80, 0)),
			svc("default", "local", "10.96.0.40", svcPort("", "TCP", 80, 30081), svcType("NodePort"), internalLocal, externalLocal),
		},
		Slices: []*discoveryv1.EndpointSlice{
			slice("default", "web", "http", "TCP", 8080, ep("10.200.0.20", "n1", true), ep("10.200.0.21", "n2", true)),
			slice("default", "dns", "dns", "UDP", 53, ep("10.200.0.30", "n1", true)),
			slice("default", "dns", "dns-tcp", "TCP", 53, ep("10.200.0.30", "n1", true)),
			slice("default", "local", "", "TCP", 80, ep("10.200.0.31", "n2", true)),
		},
		NodeName:    "n1",
		ServiceCIDR: netip.MustParsePrefix("10.96.0.0/12"),
	})
	p := programmer{netns: int(ns)}
	for i := 0; i < 2; i++ { // the second apply replaces an existing table
		if err := p.apply(plan); err != nil {
			t.Fatal(err)
		}
	}
	st, err := p.read()
	if err != nil {
		t.Fatal(err)
	}
	got := regexp.MustCompile(`  # packets \d+ bytes \d+`).ReplaceAllString(st.format(), "")
	if want := plan.Format(); got != want {
		t.Errorf("table read back differs from plan\n--- got\n%s\n--- want\n%s", got, want)
	}
	t.Log(st.format())
}
