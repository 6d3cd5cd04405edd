package nodeagent_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kindlikeimages "github.com/kindlike/kindlike/images"
	"github.com/kindlike/kindlike/nodeagent/runtime"
)

// payload is a ConfigMap value whose two ends the reader checks, so a file read
// half-written would be caught.
func payload(i int) string {
	return fmt.Sprintf("begin-%d-%s-end", i, strings.Repeat("x", 64))
}

// reader loops over the mounted file with shell builtins alone (thousands of reads a
// second), at the lowest priority so as not to slow the agent, noting every read that
// is not a whole payload: a partial file, an empty one, or none.
const reader = `renice -n 19 -p $$ >/dev/null
n=0
while :; do
  v=
  read -r v < /etc/config/payload
  case "$v" in
    begin-*-end) ;;
    *) echo "[$v]" >> /scratch/bad ;;
  esac
  n=$((n+1))
  [ $((n % 500)) -eq 0 ] && echo $n > /scratch/reads
done`

// TestVolumeUpdates changes the ConfigMaps, Secrets and labels a running pod mounts,
// and checks what the pod sees, as on a real node: updates arrive within the sync
// period, atomically (a reader looping over a file never sees it partial, empty or
// missing), removed keys disappear, optional sources that appear later show up;
// environment variables, subPath files and immutable ConfigMaps never change; a
// deleted source keeps the pod running on its last files, with a FailedMount event.
func TestVolumeUpdates(t *testing.T) {
	e := newEnv(t)
	if e.images.pause != kindlikeimages.PauseImage {
		t.Fatalf("the update swap runs in kindlike's pause image %s, which Docker lacks: run `make images`", kindlikeimages.PauseImage)
	}
	e.addNode("worker")
	k := e.kubectl()
	ctx := context.Background()
	cms := e.client.CoreV1().ConfigMaps("default")
	k.apply(`apiVersion: v1
kind: Secret
metadata: {name: app-secret}
stringData: {token: t0}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: frozen}
immutable: true
data: {v: one}
---
apiVersion: v1
kind: Pod
metadata:
  name: watcher
  labels: {app: watcher}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox:1.31
    command: ["sh", "-c", ` + fmt.Sprintf("%q", reader) + `]
    env: [{name: GREETING, valueFrom: {configMapKeyRef: {name: app-config, key: greeting}}}]
    volumeMounts:
    - {name: config, mountPath: /etc/config}
    - {name: config, mountPath: /etc/sub/greeting, subPath: greeting}
    - {name: secret, mountPath: /etc/secret}
    - {name: frozen, mountPath: /etc/frozen}
    - {name: info, mountPath: /etc/podinfo}
    - {name: late, mountPath: /etc/late}
    - {name: scratch, mountPath: /scratch}
  volumes:
  - {name: config, configMap: {name: app-config}}
  - {name: secret, secret: {secretName: app-secret}}
  - {name: frozen, configMap: {name: frozen}}
  - {name: info, downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}}
  - name: late
    projected:
      sources:
      - configMap: {name: late, optional: true}
      - secret: {name: app-secret, items: [{key: token, path: token}]}
  - {name: scratch, emptyDir: {}}
`)
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-config"},
		Data: map[string]string{"payload": payload(0), "greeting": "hello-0", "color": "blue"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	k.eventually(60*time.Second, `watcher\s+1/1\s+Running`, "get", "pod", "watcher")
	main := e.containerID("default", "watcher", "main")
	sh := func(t testing.TB, cmd string) string {
		t.Helper()
		out, code := e.exec(main, "sh", "-c", cmd)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", cmd, code, out)
		}
		return out
	}
	// until runs cmd in the container until its output matches re, and returns how
	// long that took.
	until := func(t testing.TB, within time.Duration, re, cmd string) time.Duration {
		t.Helper()
		rx := regexp.MustCompile(re)
		begin := time.Now()
		var out string
		for time.Since(begin) < within {
			if out, _ = e.exec(main, "sh", "-c", cmd); rx.MatchString(out) {
				return time.Since(begin)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%s: output never matched %q within %v; last:\n%.300s", cmd, re, within, out)
		return 0
	}
	// The bound is a node's sync interval (10s by default): the agent looks at every
	// pod that often whatever it heard. A watch event brings an update much sooner.
	bound := 10 * time.Second
	head := `head -c 12 /etc/config/payload`

	if out := sh(t, `cat /etc/config/greeting /etc/sub/greeting /etc/secret/token /etc/frozen/v; echo; echo "$GREETING"; ls /etc/late; cat /etc/podinfo/labels`); out != "hello-0hello-0t0one\nhello-0\ntoken\napp=\"watcher\"" {
		t.Fatalf("the pod's files at start: %q", out)
	}

	var latencies []time.Duration
	for i := 1; i <= 5; i++ {
		cm, err := cms.Get(ctx, "app-config", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Data["payload"], cm.Data["greeting"] = payload(i), fmt.Sprintf("hello-%d", i)
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		latencies = append(latencies, until(t, bound, fmt.Sprintf("^begin-%d-x", i), head))
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	t.Logf("ConfigMap update to the running container's file: min %v, median %v, max %v (bound %v)",
		latencies[0].Round(time.Millisecond), latencies[len(latencies)/2].Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond), bound)

	t.Run("environment and subPath keep their first values", func(t *testing.T) {
		if out := sh(t, `cat /etc/config/greeting; echo; cat /etc/sub/greeting; echo; echo "$GREETING"`); out != "hello-5\nhello-0\nhello-0\n" {
			t.Errorf("volume file, subPath file, variable: %q", out)
		}
	})

	t.Run("a removed key disappears, the layout is kubelet's", func(t *testing.T) {
		if _, err := cms.Patch(ctx, "app-config", "application/merge-patch+json", []byte(`{"data":{"color":null}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		until(t, bound, `^greeting\npayload\n$`, `ls /etc/config`)
		if out, code := e.exec(main, "cat", "/etc/config/color"); code == 0 {
			t.Errorf("cat /etc/config/color after the key was removed: %q", out)
		}
		// One generation directory, "..data" linking to it, every name a link
		// through "..data"; the old generations are gone.
		until(t, bound, `^\.\.2[0-9_]+\.[0-9]{9}\n\.\.data\ngreeting\npayload\n$`, `ls -A /etc/config`)
		out := sh(t, `cd /etc/config && for f in ..data greeting payload; do readlink $f; done`)
		if !regexp.MustCompile(`^\.\.2[0-9_]+\.[0-9]{9}\n\.\.data/greeting\n\.\.data/payload\n$`).MatchString(out) {
			t.Errorf("links: %q", out)
		}
	})

	t.Run("Secret, optional source appearing, labels", func(t *testing.T) {
		k.must("patch", "secret", "app-secret", "-p", `{"stringData":{"token":"t1"}}`)
		until(t, bound, `^t1t1$`, `cat /etc/secret/token /etc/late/token`)
		k.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late}\ndata: {hint: here}\n")
		until(t, bound, `^here$`, `cat /etc/late/hint`)
		k.must("label", "pod", "watcher", "tier=web")
		until(t, bound, `^app="watcher"\ntier="web"$`, `cat /etc/podinfo/labels`)
	})

	t.Run("immutable", func(t *testing.T) {
		_, errOut, err := k.run("", "patch", "configmap", "frozen", "-p", `{"data":{"v":"two"}}`)
		if err == nil || !strings.Contains(errOut, "field is immutable when `immutable` is set") {
			t.Errorf("changing an immutable ConfigMap: %v %s", err, errOut)
		}
		k.must("delete", "configmap", "frozen")
		k.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: frozen}\nimmutable: true\ndata: {v: two}\n")
		// A later change of another ConfigMap the pod mounts: once it shows, the
		// agent has looked at the new "frozen" too.
		if _, err := cms.Patch(ctx, "app-config", "application/merge-patch+json", []byte(`{"data":{"greeting":"hello-6"}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		until(t, bound, `^hello-6$`, `cat /etc/config/greeting`)
		if out := sh(t, `cat /etc/frozen/v`); out != "one" {
			t.Errorf("the immutable ConfigMap's file changed to %q", out)
		}
	})

	t.Run("a deleted source leaves the pod running on its files", func(t *testing.T) {
		if err := cms.Delete(ctx, "app-config", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		k.eventually(bound, `MountVolume.SetUp failed for volume "config" : configmap "app-config" not found`,
			"get", "events", "--field-selector", "involvedObject.name=watcher,reason=FailedMount", "-o", "jsonpath={.items[*].message}")
		if out := sh(t, head+`; echo; cat /etc/config/greeting`); out != "begin-5-xxxx\nhello-6" {
			t.Errorf("files after the ConfigMap was deleted: %q", out)
		}
		k.eventually(bound, `^Running 0$`, "get", "pod", "watcher", "-o", "jsonpath={.status.phase} {.status.containerStatuses[0].restartCount}")
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-config"},
			Data: map[string]string{"payload": payload(7), "greeting": "hello-7"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		until(t, bound, `^begin-7-x`, head)
	})

	t.Run("an agent restart rewrites nothing", func(t *testing.T) {
		before := sh(t, `readlink /etc/config/..data; readlink /etc/secret/..data`)
		e.stopAgent("worker")
		e.startAgent("worker")
		k.must("label", "pod", "watcher", "tier=db", "--overwrite")
		until(t, bound+10*time.Second, `tier="db"`, `cat /etc/podinfo/labels`)
		if after := sh(t, `readlink /etc/config/..data; readlink /etc/secret/..data`); after != before {
			t.Errorf("unchanged volumes were written again after the agent restarted: %q, then %q", before, after)
		}
	})

	// The reader saw every version whole.
	if out, _ := e.exec(main, "cat", "/scratch/bad"); !strings.Contains(out, "No such file") {
		t.Errorf("the reader saw files that were not a whole payload (their lengths, or the error):\n%s", out)
	}
	reads := strings.TrimSpace(sh(t, `cat /scratch/reads`))
	var n int
	fmt.Sscan(reads, &n)
	if n < 10000 {
		t.Errorf("the reader read only %s times: too few to show anything", reads)
	}
	t.Logf("the reader read the file %d times during the updates", n)
}

// containerID is the running container of a pod's container, by name.
func (e *env) containerID(ns, pod, name string) string {
	e.t.Helper()
	for _, c := range e.containersOf(ns, pod, false) {
		if c.Labels[runtime.LabelContainerName] == name {
			return c.ID
		}
	}
	e.t.Fatalf("no running container %s of pod %s/%s", name, ns, pod)
	return ""
}

// exec runs cmd in a container through Docker, and returns its output (stdout, then
// stderr) and exit code.
func (e *env) exec(id string, cmd ...string) (string, int) {
	e.t.Helper()
	d := dockerClient(e.t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	created, err := d.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		e.t.Fatalf("exec %v: %v", cmd, err)
	}
	resp, err := d.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		e.t.Fatalf("exec %v: %v", cmd, err)
	}
	defer resp.Close()
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, resp.Reader); err != nil {
		e.t.Fatalf("exec %v: %v", cmd, err)
	}
	for {
		ins, err := d.ContainerExecInspect(ctx, created.ID)
		if err != nil {
			e.t.Fatalf("exec %v: %v", cmd, err)
		}
		if !ins.Running {
			return out.String() + errOut.String(), ins.ExitCode
		}
		time.Sleep(10 * time.Millisecond)
	}
}
