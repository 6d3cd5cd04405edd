package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestDeleteDuringPodBurst deletes a cluster two seconds after a 30-replica
// Deployment was applied, while its agents are creating pod containers, many times in
// a row: every time, nothing labelled with the cluster may be left, and the delete
// must succeed (a leftover network once blocked a cluster name for good).
func TestDeleteDuringPodBurst(t *testing.T) {
	t.Parallel()
	const rounds = 20
	c := newCluster(t)
	for i := range rounds {
		c.create("--control-planes", "3", "--nodes", "3", "--wait", "2m")
		c.mustKubectl("create", "deployment", "burst", "--image=busybox:1.31", "--replicas=30", "--", "sleep", "3600")
		time.Sleep(2 * time.Second) // the point of the test: deletion lands mid-burst
		out, err := c.run("delete", "cluster", "--name", c.name, "--kubeconfig", c.kubeconfig)
		if err != nil {
			t.Fatalf("round %d: delete cluster: %v\n%s", i+1, err, out)
		}
		if !strings.Contains(out, `Deleted cluster "`+c.name+`"`) {
			t.Errorf("round %d: delete said %q", i+1, out)
		}
		assertNothingLabelled(t, c.name)
	}
}
