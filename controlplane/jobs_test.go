package controlplane_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestJobs runs Jobs and CronJobs on a fake kubelet whose pods succeed, fail or keep
// running as their "outcome" label says, and checks what kubectl shows: completions,
// the backoff limit, the active deadline, the TTL after finishing, CronJob runs
// (scheduled and `kubectl create job --from`), and pods of a deleted node collected.
func TestJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control-plane processes")
	}
	c := startCluster(t)
	client := clients(t, c)[0]
	k := kubectl{t: t, argv: flavours(t)["kubectl"], kubeconfig: c.Kubeconfig(0)}
	kubelet := startFakeKubelet(t, client, "w1", "w2")
	kubelet.Outcome = func(p *corev1.Pod) corev1.PodPhase {
		switch p.Labels["outcome"] {
		case "fail":
			return corev1.PodFailed
		case "run":
			return corev1.PodRunning
		}
		return corev1.PodSucceeded
	}
	k.eventually(20*time.Second, `default`, "get", "serviceaccount", "default", "-o", "name")
	k.must("apply", "-f", writeManifest(t, "jobs", jobManifests))
	briefUID := k.must("get", "job", "brief", "-o", "jsonpath={.metadata.uid}")

	t.Run("group", func(t *testing.T) {
		t.Run("completions and parallelism", func(t *testing.T) {
			t.Parallel()
			k := k
			k.t = t
			out := k.eventually(40*time.Second, `(?m)^pi\s+Complete\s+3/3`, "get", "jobs")
			matches(t, "get jobs", out, `(?m)^NAME\s+STATUS\s+COMPLETIONS\s+DURATION\s+AGE$`, `(?m)^pi\s+Complete\s+3/3\s+\d+s\s+\d+s$`)
			uid := k.must("get", "job", "pi", "-o", "jsonpath={.metadata.uid}")
			pods := k.must("get", "pods", "-l", "batch.kubernetes.io/job-name=pi", "-o",
				`jsonpath={range .items[*]}{.metadata.labels.controller-uid} {.metadata.labels.job-name} {.metadata.labels.batch\.kubernetes\.io/controller-uid} {.status.phase} [{.metadata.finalizers}]{"\n"}{end}`)
			if n := strings.Count(pods, uid+" pi "+uid+" Succeeded []"); n != 3 {
				t.Errorf("want 3 succeeded pods labelled for job uid %s, without the tracking finalizer:\n%s", uid, pods)
			}
			status := k.must("get", "job", "pi", "-o", `jsonpath={.status.succeeded} {.status.failed} {.status.active} {.status.ready} {.status.uncountedTerminatedPods} {range .status.conditions[*]}{.type}={.status}/{.reason} {end}`)
			// failed and active are omitted at zero, as Kubernetes writes them.
			if want := "3   0 {} SuccessCriteriaMet=True/CompletionsReached Complete=True/CompletionsReached "; status != want {
				t.Errorf("job status = %q, want %q", status, want)
			}
			describe := k.must("describe", "job", "pi")
			matches(t, "describe job pi", describe, `Normal\s+SuccessfulCreate\s+.*job-controller\s+Created pod: pi-`,
				`Normal\s+Completed\s+.*job-controller\s+Job completed`, `(?m)^Pods Statuses:\s+0 Active \(0 Ready\) / 3 Succeeded / 0 Failed`)
			if sel := k.must("get", "job", "pi", "-o", "jsonpath={.spec.selector.matchLabels}"); !strings.Contains(sel, uid) {
				t.Errorf("selector %s is not the generated one for uid %s", sel, uid)
			}
		})

		t.Run("backoff limit", func(t *testing.T) {
			t.Parallel()
			k := k
			k.t = t
			out := k.eventually(60*time.Second, `(?m)^fails\s+Failed`, "get", "jobs", "fails")
			matches(t, "get job fails", out, `(?m)^fails\s+Failed\s+0/1\s+\d+s\s+\d+s$`)
			status := k.must("get", "job", "fails", "-o", `jsonpath={.status.failed} {range .status.conditions[*]}{.type}={.reason} {end}`)
			if want := "2 FailureTarget=BackoffLimitExceeded Failed=BackoffLimitExceeded "; status != want {
				t.Errorf("job status = %q, want %q", status, want)
			}
			matches(t, "describe job fails", k.must("describe", "job", "fails"),
				`Warning\s+BackoffLimitExceeded\s+.*job-controller\s+Job has reached the specified backoff limit`)
		})

		t.Run("active deadline", func(t *testing.T) {
			t.Parallel()
			k := k
			k.t = t
			k.eventually(40*time.Second, `(?m)^slow\s+Failed`, "get", "jobs", "slow")
			status := k.must("get", "job", "slow", "-o", `jsonpath={.status.active} {.status.failed} {range .status.conditions[?(@.type=="Failed")]}{.reason}: {.message}{end}`)
			// active is omitted at zero; both killed pods count as failed.
			if want := " 2 DeadlineExceeded: Job was active longer than specified deadline"; status != want {
				t.Errorf("job status = %q, want %q", status, want)
			}
			k.eventually(20*time.Second, `^$`, "get", "pods", "-l", "job-name=slow", "-o", "name")
			matches(t, "describe job slow", k.must("describe", "job", "slow"), `Normal\s+SuccessfulDelete\s+.*Deleted pod: slow-`,
				`Warning\s+DeadlineExceeded\s+.*Job was active longer than specified deadline`)
		})

		t.Run("ttl after finished", func(t *testing.T) {
			t.Parallel()
			k := k
			k.t = t
			k.eventually(40*time.Second, `^$`, "get", "job", "brief", "--ignore-not-found", "-o", "name")
			k.eventually(20*time.Second, `^$`, "get", "pods", "-l", "controller-uid="+briefUID, "-o", "name")
			matches(t, "events of brief", k.must("get", "events", "--field-selector", "involvedObject.name=brief"), `Completed\s+job/brief\s+Job completed`)
		})

		t.Run("cronjob", func(t *testing.T) {
			t.Parallel()
			k := k
			k.t = t
			matches(t, "get cronjobs", k.must("get", "cronjobs"), `(?m)^NAME\s+SCHEDULE\s+TIMEZONE\s+SUSPEND\s+ACTIVE\s+LAST SCHEDULE\s+AGE$`,
				`(?m)^hello\s+@every 5s\s+Etc/UTC\s+False\s+\d+\s+`)
			contains(t, "create job --from", k.must("create", "job", "manual", "--from=cronjob/hello"), "job.batch/manual created")
			k.eventually(30*time.Second, `(?m)^manual\s+Complete\s+1/1`, "get", "jobs", "manual")
			if a := k.must("get", "job", "manual", "-o", `jsonpath={.metadata.annotations.cronjob\.kubernetes\.io/instantiate} {.metadata.ownerReferences[0].name}`); a != "manual hello" {
				t.Errorf("manual job annotation and owner = %q, want %q", a, "manual hello")
			}
			// The controller's own run, named by its start minute.
			out := k.eventually(60*time.Second, `(?m)^hello-\d+\s+Complete\s+1/1`, "get", "jobs")
			name := regexpFind(out, `hello-\d+`)
			ann := k.must("get", "job", name, "-o", `jsonpath={.metadata.annotations.batch\.kubernetes\.io/cronjob-scheduled-timestamp}`)
			if _, err := time.Parse(time.RFC3339, ann); err != nil {
				t.Errorf("scheduled timestamp annotation %q: %v", ann, err)
			}
			k.eventually(30*time.Second, `\d`, "get", "cronjob", "hello", "-o", "jsonpath={.status.lastSuccessfulTime}")
			matches(t, "describe cronjob", k.eventually(20*time.Second, `SawCompletedJob`, "describe", "cronjob", "hello"),
				`Normal\s+SuccessfulCreate\s+.*cronjob-controller\s+Created job `+name,
				`Normal\s+SawCompletedJob\s+.*Saw completed job: `+name+`, condition: Complete`)
		})

		t.Run("pods of a deleted node", func(t *testing.T) {
			t.Parallel()
			k := k
			k.t = t
			kubelet.AddNode("w3")
			k.must("apply", "-f", writeManifest(t, "bound", boundPod))
			k.eventually(20*time.Second, `Running`, "get", "pod", "bound", "-o", "jsonpath={.status.phase}")
			k.must("delete", "node", "w3")
			k.eventually(40*time.Second, `^$`, "get", "pods", "bound", "--ignore-not-found", "-o", "name")
		})
	})
}

const jobManifests = `apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: pi
        image: busybox
---
apiVersion: batch/v1
kind: Job
metadata:
  name: fails
spec:
  backoffLimit: 1
  template:
    metadata:
      labels:
        outcome: fail
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
---
apiVersion: batch/v1
kind: Job
metadata:
  name: slow
spec:
  activeDeadlineSeconds: 4
  parallelism: 2
  template:
    metadata:
      labels:
        outcome: run
    spec:
      restartPolicy: OnFailure
      containers:
      - name: c
        image: busybox
---
apiVersion: batch/v1
kind: Job
metadata:
  name: brief
spec:
  ttlSecondsAfterFinished: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: hello
spec:
  schedule: "@every 5s"
  timeZone: Etc/UTC
  successfulJobsHistoryLimit: 1
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: hello
            image: busybox
`

const boundPod = `apiVersion: v1
kind: Pod
metadata:
  name: bound
  labels:
    outcome: run
spec:
  nodeName: w3
  containers:
  - name: c
    image: busybox
`

func regexpFind(s, re string) string {
	return regexp.MustCompile(re).FindString(s)
}
