package controlplane_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func deploymentManifest(name string, replicas int, extra string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: %[2]d
%[3]s  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
    spec:
      containers:
      - name: web
        image: nginx:1.14.2
`, name, replicas, extra)
}

// TestDeploymentRollout walks the tutorial's Deployment through kubectl's rollout
// commands: ReplicaSets per template, rolling update, history, undo, scale, pause and
// resume, restart, history cleanup, Recreate, and a rollout that never progresses.
func TestDeploymentRollout(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control-plane processes")
	}
	c := startCluster(t)
	fk := startFakeKubelet(t, clients(t, c)[0], "w1", "w2", "w3")
	fk.Outcome = func(p *corev1.Pod) corev1.PodPhase {
		if p.Labels["app"] == "stuck" {
			return corev1.PodPending
		}
		return corev1.PodRunning
	}
	k := kubectl{t: t, argv: flavours(t)["kubectl"], kubeconfig: c.Kubeconfig(0)}
	const d = "nginx-deployment-demo"
	k.must("create", "ns", "demo")
	contains(t, "apply", k.must("apply", "-f", filepath.Join(scenarios(t), "08-nginx-deployment.yaml")), "deployment.apps/nginx-deployment-demo created")

	var firstRS string
	t.Run("rolled out", func(t *testing.T) {
		contains(t, "rollout status", k.must("rollout", "status", "deploy/"+d, "-n", "demo", "--timeout=60s"), `deployment "nginx-deployment-demo" successfully rolled out`)
		out := k.must("get", "deploy", "-n", "demo")
		matches(t, "get deploy", out, `(?m)^nginx-deployment-demo\s+3/3\s+3\s+3\s`)
		rs := k.must("get", "rs", "-n", "demo")
		matches(t, "get rs", rs, `(?m)^NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE$`, `(?m)^nginx-deployment-demo-[a-z0-9]+\s+3\s+3\s+3\s`)
		firstRS = k.must("get", "rs", "-n", "demo", "-o", "jsonpath={.items[0].metadata.name}")
		hash := k.must("get", "rs", firstRS, "-n", "demo", "-o", `jsonpath={.metadata.labels.pod-template-hash}`)
		if firstRS != d+"-"+hash {
			t.Errorf("ReplicaSet %s is not named after its pod-template-hash %q", firstRS, hash)
		}
		if got := k.must("get", "rs", firstRS, "-n", "demo", "-o", `jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision} {.metadata.annotations.deployment\.kubernetes\.io/desired-replicas} {.metadata.annotations.deployment\.kubernetes\.io/max-replicas} {.spec.selector.matchLabels}`); got != `1 3 4 {"app":"nginx","pod-template-hash":"`+hash+`"}` {
			t.Errorf("ReplicaSet annotations and selector = %s", got)
		}
		if got := k.must("get", "deploy", d, "-n", "demo", "-o", `jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision} {.metadata.generation} {.status.observedGeneration}`); got != "1 1 1" {
			t.Errorf("deployment revision generation observedGeneration = %q, want \"1 1 1\"", got)
		}
		if got := podNames(k, "demo", "app=nginx,version=v1"); len(got) != 3 {
			t.Errorf("pods with the template's labels = %v, want 3", got)
		}
		_, errOut, _ := k.run("get", "pods", "-n", "demo", "-l", "environment in (production),tier in (frontend)")
		contains(t, "set-based selector", errOut, "No resources found in demo namespace.")
		desc := k.must("describe", "deploy", d, "-n", "demo")
		matches(t, "describe deploy", desc,
			`(?m)^\s+Available\s+True\s+MinimumReplicasAvailable$`, `(?m)^\s+Progressing\s+True\s+NewReplicaSetAvailable$`,
			`(?m)^NewReplicaSet:\s+`+firstRS+` \(3/3 replicas created\)$`,
			`Normal\s+ScalingReplicaSet\s+.*deployment-controller\s+Scaled up replica set `+firstRS+` from 0 to 3`)
		if got := k.must("get", "deploy", d, "-n", "demo", "-o", `jsonpath={.status.conditions[?(@.type=="Progressing")].message}`); got != `ReplicaSet "`+firstRS+`" has successfully progressed.` {
			t.Errorf("Progressing message = %q", got)
		}
	})

	t.Run("set image", func(t *testing.T) {
		contains(t, "set image", k.must("set", "image", "deploy/"+d, "nginx=nginx:1.16.1", "-n", "demo"), "deployment.apps/nginx-deployment-demo image updated")
		contains(t, "rollout status", k.must("rollout", "status", "deploy/"+d, "-n", "demo", "--timeout=60s"), "successfully rolled out")
		rs := k.eventually(20*time.Second, `(?m)^`+firstRS+`\s+0\s+0\s+0\s`, "get", "rs", "-n", "demo")
		matches(t, "two ReplicaSets", rs, `(?m)^nginx-deployment-demo-[a-z0-9]+\s+3\s+3\s+3\s`)
		hist := k.must("rollout", "history", "deploy/"+d, "-n", "demo")
		matches(t, "rollout history", hist, `(?m)^REVISION\s+CHANGE-CAUSE$`, `(?m)^1\s+<none>$`, `(?m)^2\s+<none>$`)
		matches(t, "describe", k.must("describe", "deploy", d, "-n", "demo"), `(?m)^OldReplicaSets:\s+`+firstRS+` \(0/0 replicas created\)$`,
			`Scaled down replica set `+firstRS+` from \d to \d`)
		if got := k.must("get", "deploy", d, "-n", "demo", "-o", "jsonpath={.status.replicas} {.status.updatedReplicas} {.status.readyReplicas} {.status.availableReplicas} {.status.unavailableReplicas}"); got != "3 3 3 3 " && got != "3 3 3 3 0" {
			t.Errorf("status counts = %q", got)
		}
	})

	t.Run("undo", func(t *testing.T) {
		contains(t, "undo to 99", k.fails("rollout", "undo", "deploy/"+d, "-n", "demo", "--to-revision=99"), "unable to find specified revision 99 in history")
		contains(t, "undo", k.must("rollout", "undo", "deploy/"+d, "-n", "demo"), "deployment.apps/nginx-deployment-demo rolled back")
		k.must("rollout", "status", "deploy/"+d, "-n", "demo", "--timeout=60s")
		if got := k.must("get", "deploy", d, "-n", "demo", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); got != "nginx:1.14.2" {
			t.Errorf("image after undo = %q", got)
		}
		k.eventually(20*time.Second, `(?m)^`+firstRS+`\s+3\s+3\s+3\s`, "get", "rs", "-n", "demo")
		if got := k.must("get", "rs", firstRS, "-n", "demo", "-o", `jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision} {.metadata.annotations.deployment\.kubernetes\.io/revision-history}`); got != "3 1" {
			t.Errorf("first ReplicaSet revision and history = %q, want \"3 1\"", got)
		}
		matches(t, "history", k.must("rollout", "history", "deploy/"+d, "-n", "demo"), `(?m)^2\s+<none>$`, `(?m)^3\s+<none>$`)
	})

	t.Run("scale", func(t *testing.T) {
		contains(t, "scale", k.must("scale", "deploy", d, "-n", "demo", "--replicas=5"), "deployment.apps/nginx-deployment-demo scaled")
		k.eventually(30*time.Second, `(?m)^nginx-deployment-demo\s+5/5\s+5\s+5\s`, "get", "deploy", "-n", "demo")
		matches(t, "events", k.must("describe", "deploy", d, "-n", "demo"), `Scaled up replica set `+firstRS+` from 3 to 5`)
	})

	t.Run("pause resume restart", func(t *testing.T) {
		contains(t, "pause", k.must("rollout", "pause", "deploy/"+d, "-n", "demo"), "deployment.apps/nginx-deployment-demo paused")
		k.must("set", "image", "deploy/"+d, "nginx=nginx:1.17", "-n", "demo")
		// Once the controller reports the new generation it has synced the new
		// template, and made in that sync any ReplicaSet it was going to.
		gen := k.must("get", "deploy", d, "-n", "demo", "-o", "jsonpath={.metadata.generation}")
		k.eventually(20*time.Second, `^DeploymentPaused `+gen+`$`, "get", "deploy", d, "-n", "demo", "-o",
			`jsonpath={.status.conditions[?(@.type=="Progressing")].reason} {.status.observedGeneration}`)
		if n := len(strings.Fields(k.must("get", "rs", "-n", "demo", "-o", "jsonpath={.items[*].metadata.name}"))); n != 2 {
			t.Errorf("a paused deployment made a new ReplicaSet: %d ReplicaSets", n)
		}
		contains(t, "resume", k.must("rollout", "resume", "deploy/"+d, "-n", "demo"), "deployment.apps/nginx-deployment-demo resumed")
		k.must("rollout", "status", "deploy/"+d, "-n", "demo", "--timeout=60s")
		contains(t, "restart", k.must("rollout", "restart", "deploy/"+d, "-n", "demo"), "deployment.apps/nginx-deployment-demo restarted")
		k.must("rollout", "status", "deploy/"+d, "-n", "demo", "--timeout=60s")
		matches(t, "history", k.must("rollout", "history", "deploy/"+d, "-n", "demo"), `(?m)^5\s+<none>$`)
		if n := len(strings.Fields(k.must("get", "rs", "-n", "demo", "-o", "jsonpath={.items[*].metadata.name}"))); n != 4 {
			t.Errorf("%d ReplicaSets after four templates, want 4", n)
		}
	})

	t.Run("revision history limit", func(t *testing.T) {
		k.must("patch", "deploy", d, "-n", "demo", "-p", `{"spec":{"revisionHistoryLimit":1}}`)
		k.eventually(20*time.Second, `^\S+ \S+$`, "get", "rs", "-n", "demo", "-o", "jsonpath={.items[*].metadata.name}")
		hist := k.must("rollout", "history", "deploy/"+d, "-n", "demo")
		matches(t, "history", hist, `(?m)^4\s+<none>$`, `(?m)^5\s+<none>$`)
	})

	t.Run("selector must match template", func(t *testing.T) {
		bad := writeManifest(t, "bad", strings.Replace(deploymentManifest("bad", 1, ""), "      labels:\n        app: bad", "      labels:\n        app: other", 1))
		contains(t, "apply", k.fails("apply", "-f", bad),
			`The Deployment "bad" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: `+"`selector` does not match template `labels`")
	})

	t.Run("recreate", func(t *testing.T) {
		k.must("apply", "-f", writeManifest(t, "recreate", deploymentManifest("recreate", 2, "  strategy:\n    type: Recreate\n")))
		k.must("rollout", "status", "deploy/recreate", "--timeout=60s")
		k.must("set", "image", "deploy/recreate", "web=nginx:1.16.1")
		k.must("rollout", "status", "deploy/recreate", "--timeout=60s")
		events := k.must("get", "events", "--field-selector", "involvedObject.name=recreate,reason=ScalingReplicaSet", "--sort-by=.metadata.creationTimestamp", "-o", "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}")
		lines := strings.Split(strings.TrimSpace(events), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[1], "Scaled down replica set recreate-") || !strings.HasSuffix(lines[1], "from 2 to 0") ||
			!strings.HasPrefix(lines[2], "Scaled up replica set recreate-") || !strings.HasSuffix(lines[2], "from 0 to 2") {
			t.Errorf("Recreate events, want up, down to 0, then up:\n%s", events)
		}
	})

	t.Run("progress deadline", func(t *testing.T) {
		k.must("apply", "-f", writeManifest(t, "stuck", deploymentManifest("stuck", 2, "  progressDeadlineSeconds: 8\n")))
		start := time.Now()
		errOut := k.fails("rollout", "status", "deploy/stuck", "--timeout=60s")
		contains(t, "rollout status", errOut, `error: deployment "stuck" exceeded its progress deadline`)
		if waited := time.Since(start); waited < 7*time.Second {
			t.Errorf("deadline exceeded after %v, want about 8s", waited)
		}
		rs := k.must("get", "rs", "-l", "app=stuck", "-o", "jsonpath={.items[0].metadata.name}")
		if got := k.must("get", "deploy", "stuck", "-o", `jsonpath={.status.conditions[?(@.type=="Progressing")].status} {.status.conditions[?(@.type=="Progressing")].message}`); got != `False ReplicaSet "`+rs+`" has timed out progressing.` {
			t.Errorf("Progressing = %q", got)
		}
		if got := k.must("get", "deploy", "stuck", "-o", `jsonpath={.status.conditions[?(@.type=="Available")].reason} {.status.unavailableReplicas}`); got != "MinimumReplicasUnavailable 2" {
			t.Errorf("Available reason and unavailableReplicas = %q", got)
		}
	})
}

// TestDeploymentRolloutSurvivesLeaderKill kills the leader in the middle of a rolling
// update of ten replicas: the next leader finishes it, with no pod too many.
func TestDeploymentRolloutSurvivesLeaderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control-plane processes")
	}
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	follower := (leader + 1) % len(c.Members)
	client := clients(t, c)[follower]
	startFakeKubelet(t, client, "w1", "w2", "w3")
	k := kubectl{t: t, argv: flavours(t)["kubectl"], kubeconfig: c.Kubeconfig(follower)}
	// minReadySeconds slows each step of the rollout down to a few seconds.
	k.must("apply", "-f", writeManifest(t, "big", deploymentManifest("big", 10, "  minReadySeconds: 2\n")))
	k.must("rollout", "status", "deploy/big", "--timeout=90s")
	k.must("set", "image", "deploy/big", "web=nginx:1.16.1")

	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := client.AppsV1().Deployments("default").Get(ctx, "big", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status.ObservedGeneration == d.Generation && d.Status.UpdatedReplicas > 0 {
			if d.Status.UpdatedReplicas == 10 && d.Status.AvailableReplicas == 10 && d.Status.Replicas == 10 {
				t.Fatal("rollout finished before the leader could be killed")
			}
			t.Logf("killing leader %s with %d of 10 replicas updated", c.Members[leader].Name, d.Status.UpdatedReplicas)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("rollout did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.Members[leader].Kill()
	if _, err := c.Leader(ctx); err != nil {
		t.Fatal(err)
	}
	contains(t, "rollout status", k.must("rollout", "status", "deploy/big", "--timeout=90s"), `deployment "big" successfully rolled out`)
	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=big"})
	if err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			running++
			if img := p.Spec.Containers[0].Image; img != "nginx:1.16.1" {
				t.Errorf("pod %s still runs %s", p.Name, img)
			}
		}
	}
	if running != 10 {
		t.Errorf("%d pods after the rollout, want 10", running)
	}
	if got := k.must("get", "deploy", "big", "-o", "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}"); got != strconv.Itoa(2) {
		t.Errorf("revision = %q, want 2", got)
	}
}

// TestDeploymentCascade: deleting a Deployment takes its ReplicaSets and pods along
// (foreground: the Deployment goes last), --cascade=orphan leaves them running without
// an owner, and a new Deployment with the same template adopts the orphans.
func TestDeploymentCascade(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control-plane processes")
	}
	c := startCluster(t)
	client := clients(t, c)[0]
	startFakeKubelet(t, client, "w1", "w2")
	k := kubectl{t: t, argv: flavours(t)["kubectl"], kubeconfig: c.Kubeconfig(0)}
	k.eventually(20*time.Second, `(?m)^default\s+Active`, "get", "ns")
	manifest := writeManifest(t, "web", deploymentManifest("web", 2, ""))
	k.must("apply", "-f", manifest)
	k.eventually(30*time.Second, `(?m)^web\s+2/2\s`, "get", "deploy", "web")
	rs := strings.TrimSpace(k.must("get", "rs", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}"))
	pods := k.must("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}")

	k.must("delete", "deploy", "web", "--cascade=orphan")
	k.eventually(10*time.Second, `^$`, "get", "rs", rs, "-o", "jsonpath={.metadata.ownerReferences}")
	if got := k.must("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}"); got != pods {
		t.Errorf("orphaned pods %q, want the same %q", got, pods)
	}

	k.must("apply", "-f", manifest)
	k.eventually(30*time.Second, `^Deployment/web$`, "get", "rs", rs, "-o", "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}")
	k.eventually(30*time.Second, `(?m)^web\s+2/2\s`, "get", "deploy", "web")
	if got := k.must("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}"); got != pods {
		t.Errorf("after adoption pods %q, want the same %q", got, pods)
	}

	k.must("delete", "deploy", "web", "--cascade=foreground", "--wait=true", "--timeout=60s")
	k.eventually(30*time.Second, `^$`, "get", "rs,pods", "-l", "app=web", "-o", "name")
}
