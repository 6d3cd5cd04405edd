package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestServices runs the networking lessons on a cluster of one control plane and two
// workers: kube-proxy and CoreDNS as kube-system pods, the init containers that wait
// for Services to resolve, the textbook's MySQL + web app reached from the host on
// NodePort 30001, StatefulSet pod names, balancing, readiness, affinity, a Service
// without endpoints, the leak guard, a LoadBalancer address, and a worker's death.
func TestServices(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.create("--control-planes", "1", "--nodes", "2", "--wait", "4m")
	client := c.client()
	ctx := context.Background()
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nodeIP := map[string]string{}
	for _, n := range nodes.Items {
		for _, a := range n.Status.Addresses {
			if a.Type == "InternalIP" {
				nodeIP[n.Name] = a.Address
			}
		}
	}
	cpIP := nodeIP[c.name+"-control-plane"]

	// What kubeadm clusters show in kube-system.
	sys := c.mustKubectl("get", "pods", "-n", "kube-system", "-o", "wide")
	if n := strings.Count(sys, "kube-proxy-"); n != 3 {
		t.Errorf("kube-proxy pods: %d, want one per node:\n%s", n, sys)
	}
	c.waitFor(time.Minute, `(?m)^coredns\s+2/2\s`, "get", "deploy", "-n", "kube-system")
	matches(t, "kube-dns", c.mustKubectl("get", "svc", "-n", "kube-system", "kube-dns"),
		`(?m)^kube-dns\s+ClusterIP\s+10\.96\.0\.10\s+<none>\s+53/UDP,53/TCP\s`)
	proxy := strings.Fields(c.mustKubectl("get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-proxy", "-o", "jsonpath={.items[*].metadata.name}"))
	if len(proxy) > 0 {
		matches(t, "kube-proxy logs", c.mustKubectl("logs", "-n", "kube-system", proxy[0]), `synced`)
	}
	if out, err := runDocker(c.name+"-control-plane", "/kindlike", "kube-proxy", "rules"); err != nil || !strings.Contains(out, "10.96.0.10") {
		t.Errorf("kube-proxy rules on the control plane (%v):\n%s", err, out)
	}

	// Scenario 05: the init containers wait until both Services resolve.
	c.mustKubectl("create", "ns", "demo")
	c.mustKubectl("apply", "-f", scenario(t, "05-init-containers-pod.yaml"))
	c.waitFor(time.Minute, `(?m)^myapp-demo\s+0/1\s+Init:0/2\s`, "get", "pod", "myapp-demo", "-n", "demo")
	c.mustKubectl("create", "service", "clusterip", "myservice", "--tcp=80:9376", "-n", "demo")
	c.mustKubectl("create", "service", "clusterip", "mydb", "--tcp=80:9377", "-n", "demo")
	c.waitFor(time.Minute, `(?m)^myapp-demo\s+1/1\s+Running\s`, "get", "pod", "myapp-demo", "-n", "demo")
	matches(t, "resolv.conf", c.mustKubectl("exec", "myapp-demo", "-n", "demo", "--", "cat", "/etc/resolv.conf"),
		`(?m)^nameserver 10\.96\.0\.10$`, `(?m)^search demo\.svc\.cluster\.local svc\.cluster\.local cluster\.local$`, `(?m)^options ndots:5$`)
	// From another namespace: <svc>.<ns>.
	c.mustKubectl("run", "probe", "--image=busybox:1.31", "--restart=Never", "--", "sleep", "3600")
	c.waitFor(time.Minute, `(?m)^probe\s+1/1\s+Running\s`, "get", "pod", "probe")
	myservice := c.mustKubectl("get", "svc", "myservice", "-n", "demo", "-o", "jsonpath={.spec.clusterIP}")
	matches(t, "nslookup myservice.demo", c.mustKubectl("exec", "probe", "--", "nslookup", "myservice.demo"), `Address( 1)?: `+strings.ReplaceAll(myservice, ".", `\.`))
	if out, err := c.kubectl("exec", "probe", "--", "nslookup", "nosuch.demo.svc.cluster.local"); err == nil {
		t.Errorf("nslookup of a Service that does not exist succeeded:\n%s", out)
	}

	// Scenarios 06 and 07: the book's first example, reached from the host.
	c.mustKubectl("apply", "-f", scenario(t, "06-mysql-rc-svc.yaml"), "-f", scenario(t, "07-myweb-rc-nodeport.yaml"))
	c.waitFor(3*time.Minute, `(?m)^myweb\s+5\s+5\s+5\s`, "get", "rc")
	c.waitFor(2*time.Minute, `(?m)^mysql\s+1\s+1\s+1\s`, "get", "rc")
	demo := "http://" + net.JoinHostPort(nodeIP[c.name+"-worker"], "30001") + "/demo/"
	var page string
	eventually(t, 2*time.Minute, "GET "+demo+" lists MySQL's rows", func() error {
		body, err := httpGet(demo)
		page = body
		if err != nil {
			return err
		}
		if !strings.Contains(body, "T_USERS") && !strings.Contains(strings.ToLower(body), "<table") {
			return fmt.Errorf("no table in %q", body)
		}
		return nil
	})
	webIPs := strings.Fields(c.mustKubectl("get", "pods", "-l", "app=myweb", "-o", "jsonpath={.items[*].status.podIP}"))
	if len(webIPs) < 2 {
		t.Fatalf("myweb pod IPs: %q", webIPs)
	}
	row := "student-" + c.name[len(c.name)-6:]
	form := url.Values{"userName": {row}, "level": {"7"}}
	body := form.Encode()
	// nc's input stays open until the answer is in: Go's HTTP server cancels a
	// request whose client half-closes.
	add := fmt.Sprintf(`(printf 'POST /demo/ HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s'; sleep 3) | nc %s 8080`, len(body), body, webIPs[0])
	if out := c.mustKubectl("exec", "probe", "--", "sh", "-c", add); !strings.Contains(out, "303 See Other") {
		t.Errorf("POST /demo/ to %s: %s", webIPs[0], out)
	}
	seen := c.mustKubectl("exec", "probe", "--", "sh", "-c", fmt.Sprintf(`(printf 'GET /demo/ HTTP/1.0\r\n\r\n'; sleep 3) | nc %s 8080`, webIPs[1]))
	if !strings.Contains(seen, row) {
		t.Errorf("row %s added through %s not seen through %s:\n%s\n(first page from the host:\n%s)", row, webIPs[0], webIPs[1], seen, page)
	}
	if body, err := httpGet(demo); err != nil || !strings.Contains(body, row) {
		t.Errorf("row %s not seen from the host through NodePort 30001 (%v)", row, err)
	}

	// Scenario 09: each StatefulSet pod has its own name.
	c.mustKubectl("apply", "-f", scenario(t, "09-web-statefulset.yaml"))
	c.waitFor(3*time.Minute, `(?m)^web-demo-0\s+1/1\s+Running\s`, "get", "pods", "-n", "demo")
	ip0 := c.mustKubectl("get", "pod", "web-demo-0", "-n", "demo", "-o", "jsonpath={.status.podIP}")
	eventually(t, 30*time.Second, "web-demo-0.nginx-demo resolves to the pod", func() error {
		out, err := c.kubectl("exec", "probe", "--", "nslookup", "web-demo-0.nginx-demo.demo.svc.cluster.local")
		if err != nil {
			return err
		}
		if !strings.Contains(out, ip0) {
			return fmt.Errorf("want %s in:\n%s", ip0, out)
		}
		return nil
	})

	// Balancing: 300 requests reach all three replicas.
	c.mustKubectl("create", "deployment", "hello", "--image=kindlike/simple-service:0.5.0", "--replicas=3", "--port=9876")
	c.mustKubectl("expose", "deployment", "hello", "--type=NodePort", "--port=80", "--target-port=9876")
	c.waitFor(2*time.Minute, `(?m)^hello\s+3/3\s`, "get", "deploy", "hello")
	helloPort := c.mustKubectl("get", "svc", "hello", "-o", "jsonpath={.spec.ports[0].nodePort}")
	hello := "http://" + net.JoinHostPort(cpIP, helloPort) + "/info"
	eventually(t, 30*time.Second, "hello answers", func() error { _, err := infoHost(hello); return err })
	hits := map[string]int{}
	for range 300 {
		h, err := infoHost(hello)
		if err != nil {
			t.Fatalf("request through NodePort %s: %v", helloPort, err)
		}
		hits[h]++
	}
	if len(hits) != 3 {
		t.Errorf("300 requests reached %d backends, want 3: %v", len(hits), hits)
	}
	// Through the ClusterIP from a pod, by name.
	matches(t, "hello by name from a pod",
		c.mustKubectl("exec", "probe", "--", "sh", "-c", `(printf 'GET /info HTTP/1.0\r\nHost: hello\r\n\r\n'; sleep 2) | nc hello.default 80`), `"hostname"`)

	// Readiness: a replica failing its probe gets no traffic.
	c.mustKubectl("patch", "deployment", "hello", "--type=json", "-p",
		`[{"op":"add","path":"/spec/template/spec/containers/0/readinessProbe","value":{"httpGet":{"path":"/health","port":9876},"periodSeconds":1,"failureThreshold":1}}]`)
	c.mustKubectl("rollout", "status", "deploy/hello", "--timeout=3m")
	var pods []string
	eventually(t, time.Minute, "the old hello pods gone", func() error {
		pods = c.podNames("default", "app=hello")
		if len(pods) != 3 {
			return fmt.Errorf("pods %q", pods)
		}
		return nil
	})
	sick := pods[0]
	c.mustKubectl("exec", sick, "--", "/simple-service", "health", "fail")
	c.waitFor(time.Minute, `(?m)^`+sick+`\s+0/1\s+Running\s`, "get", "pod", sick)
	sickHost := c.mustKubectl("get", "pod", sick, "-o", "jsonpath={.spec.hostname}")
	if sickHost == "" {
		sickHost = sick
	}
	for range 60 {
		h, err := infoHost(hello)
		if err != nil {
			t.Fatalf("request while one replica is not ready: %v", err)
		}
		if h == sickHost {
			t.Fatalf("a request reached %s, which fails its readiness probe", sick)
		}
	}
	c.mustKubectl("exec", sick, "--", "/simple-service", "health", "ok")

	// ClientIP affinity sticks.
	c.mustKubectl("patch", "svc", "hello", "-p", `{"spec":{"sessionAffinity":"ClientIP"}}`)
	waitRules(t, c.name+"-control-plane", "aff-default/hello", true)
	first, err := infoHost(hello)
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		if h, err := infoHost(hello); err != nil || h != first {
			t.Fatalf("with sessionAffinity ClientIP a request went to %s (%v), the first to %s", h, err, first)
		}
	}

	// No endpoints: refused at once, from a pod and from the host.
	c.mustKubectl("create", "service", "clusterip", "nobody", "--tcp=80:8080")
	c.mustKubectl("create", "service", "nodeport", "nobody-np", "--tcp=80:8080")
	nobody := c.mustKubectl("get", "svc", "nobody", "-o", "jsonpath={.spec.clusterIP}")
	probeNode := c.mustKubectl("get", "pod", "probe", "-o", "jsonpath={.spec.nodeName}")
	waitRules(t, probeNode, "ip daddr "+nobody+" ", true)
	npPort := c.mustKubectl("get", "svc", "nobody-np", "-o", "jsonpath={.spec.ports[0].nodePort}")
	waitRules(t, c.name+"-control-plane", "dport "+npPort+" ", true)
	start := time.Now()
	out, err := c.kubectl("exec", "probe", "--", "sh", "-c", "nc -w 5 "+nobody+" 80 </dev/null; echo rc=$?")
	if err != nil || !strings.Contains(out, "rc=1") || time.Since(start) > 4*time.Second {
		t.Errorf("connect to a Service without endpoints: %q %v after %s; want refused at once", out, err, time.Since(start))
	}
	start = time.Now()
	if conn, err := net.DialTimeout("tcp", net.JoinHostPort(cpIP, npPort), 3*time.Second); err == nil {
		conn.Close()
		t.Error("connect to a NodePort without endpoints succeeded")
	} else if !strings.Contains(err.Error(), "refused") || time.Since(start) > time.Second {
		t.Errorf("connect to a NodePort without endpoints: %v after %s; want refused at once", err, time.Since(start))
	}
	// The leak guard: an address of the Service range that no Service has is refused
	// by the node, never routed towards the host.
	start = time.Now()
	out, err = c.kubectl("exec", "probe", "--", "sh", "-c", "nc -w 5 10.111.222.111 80 </dev/null; echo rc=$?")
	if err != nil || !strings.Contains(out, "rc=1") || time.Since(start) > 4*time.Second {
		t.Errorf("connect to an unused Service address: %q %v after %s; want refused by the node", out, err, time.Since(start))
	}

	// A LoadBalancer Service answers from the host at its EXTERNAL-IP.
	c.mustKubectl("expose", "deployment", "hello", "--name=hello-lb", "--type=LoadBalancer", "--port=8080", "--target-port=9876")
	lbIP := ""
	eventually(t, time.Minute, "hello-lb gets an EXTERNAL-IP", func() error {
		lbIP = c.mustKubectl("get", "svc", "hello-lb", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}")
		if lbIP == "" {
			return fmt.Errorf("none yet")
		}
		return nil
	})
	eventually(t, 30*time.Second, "hello-lb answers at "+lbIP, func() error {
		_, err := infoHost("http://" + net.JoinHostPort(lbIP, "8080") + "/info")
		return err
	})

	// A worker dies: the Service keeps answering from the other nodes, and its
	// endpoints drop the lost pods once they are marked not ready.
	c.mustKubectl("patch", "svc", "hello", "-p", `{"spec":{"sessionAffinity":"None"}}`)
	c.mustKubectl("scale", "deployment", "hello", "--replicas=4")
	c.waitFor(2*time.Minute, `(?m)^hello\s+4/4\s`, "get", "deploy", "hello")
	victim := c.name + "-worker2"
	lost := strings.Fields(c.mustKubectl("get", "pods", "-l", "app=hello", "--field-selector=spec.nodeName="+victim, "-o", "jsonpath={.items[*].status.podIP}"))
	dockerDo(t, "kill", []string{victim}, func(ctx context.Context, id string) error {
		return dockerCLI.ContainerKill(ctx, id, "KILL")
	})
	eventually(t, 2*time.Minute, "hello's endpoints drop the pods of "+victim, func() error {
		eps, err := c.kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=hello", "-o",
			`jsonpath={range .items[*].endpoints[*]}{.nodeName}={.conditions.ready}{"\n"}{end}`)
		if err != nil {
			return err
		}
		if strings.Contains(eps, victim+"=true") {
			return fmt.Errorf("still ready on %s:\n%s", victim, eps)
		}
		return nil
	})
	for _, ip := range lost {
		waitRules(t, c.name+"-control-plane", "dnat to "+ip+":", false)
	}
	for range 50 {
		if _, err := infoHost(hello); err != nil {
			t.Fatalf("with %s dead, a request through the control plane's NodePort failed: %v", victim, err)
		}
	}
}

// waitRules waits until the node's kube-proxy rules (`kindlike kube-proxy rules`)
// contain want, or no longer do: the signal that a change reached that node.
func waitRules(t *testing.T, node, want string, present bool) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("%s's rules with %q: %v", node, want, present), func() error {
		out, err := runDocker(node, "/kindlike", "kube-proxy", "rules")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if strings.Contains(out, want) != present {
			return fmt.Errorf("not yet")
		}
		return nil
	})
}

// httpGet fetches url from the host.
func httpGet(u string) (string, error) {
	// A new connection each time, so each request is balanced afresh.
	cl := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := cl.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s: %s", u, resp.Status, b)
	}
	return string(b), err
}

// infoHost asks simple-service's /info which pod answered.
func infoHost(u string) (string, error) {
	body, err := httpGet(u)
	if err != nil {
		return "", err
	}
	var info struct {
		Hostname string `json:"hostname"`
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		return "", fmt.Errorf("GET %s: %w: %s", u, err, body)
	}
	return info.Hostname, nil
}

// runDocker runs a command in a container through the docker CLI.
func runDocker(ctr string, cmd ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", append([]string{"exec", ctr}, cmd...)...).CombinedOutput()
	return string(out), err
}
