package nodeproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/pki"
)

var pod = &corev1.Pod{
	ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "demo"},
	Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "a"}, {Name: "b"}},
		InitContainers: []corev1.Container{{Name: "init"}}},
	Status: corev1.PodStatus{Phase: corev1.PodRunning},
}

func TestAgentPath(t *testing.T) {
	for _, tc := range []struct {
		sub, query, want, err string
	}{
		{"log", "container=a&follow=true&tailLines=10&timestamps=true&previous=false", "/containerLogs/demo/web/a?follow=true&tailLines=10&timestamps=true", ""},
		{"log", "container=init&sinceSeconds=5&limitBytes=100", "/containerLogs/demo/web/init?limitBytes=100&sinceSeconds=5", ""},
		{"log", "", "", "a container name must be specified for pod web, choose one of: [a b] or one of the init containers: [init]"},
		{"log", "container=zz", "", "container zz is not valid for pod web"},
		{"exec", "container=b&command=sh&command=-c&command=echo+hi&stdin=true&stdout=true&tty=true",
			"/exec/demo/web/b?command=sh&command=-c&command=echo+hi&input=1&output=1&tty=1", ""},
		{"exec", "container=b&stdout=true", "", "you must specify at least one command for the container"},
		{"attach", "container=a&stdin=true&stdout=true&stderr=true", "/attach/demo/web/a?error=1&input=1&output=1", ""},
		{"portforward", "ports=8080&ports=9090", "/portForward/demo/web?port=8080&port=9090", ""},
	} {
		q, _ := url.ParseQuery(tc.query)
		path, out, err := agentPath(pod, tc.sub, q)
		got := ""
		if err == nil {
			got = path + "?" + out.Encode()
			got = strings.TrimSuffix(got, "?")
		}
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) {
			t.Errorf("%s %s: %q, %v; want %q, %q", tc.sub, tc.query, got, err, tc.want, tc.err)
		}
	}
	done := pod.DeepCopy()
	done.Status.Phase = corev1.PodSucceeded
	if _, _, err := agentPath(done, "exec", url.Values{"container": {"a"}, "command": {"ls"}}); err == nil ||
		err.Error() != "cannot exec into a container in a completed pod; current phase is Succeeded" {
		t.Errorf("exec into a completed pod: %v", err)
	}
}

// TestProxy sends requests through the proxy to a TLS "agent" that checks the API
// server's client certificate, and upgrades a connection through it.
func TestProxy(t *testing.T) {
	ca, err := pki.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	serving, _ := ca.Sign(pki.Request{CommonName: "system:node:n1", DNSNames: []string{"n1"}, Server: true})
	client, _ := ca.Sign(pki.Request{CommonName: config.KubeletClientCN, Organizations: []string{"system:masters"}, Client: true})
	agent := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != config.KubeletClientCN {
			http.Error(w, "who are you", http.StatusForbidden)
			return
		}
		if r.Header.Get("Authorization") != "" {
			http.Error(w, "credentials leaked", http.StatusBadRequest)
			return
		}
		if r.Header.Get("Upgrade") == "test/1" {
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Upgrade", "test/1")
			w.WriteHeader(http.StatusSwitchingProtocols)
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			line, _ := buf.ReadString('\n')
			_, _ = conn.Write([]byte("echo " + line))
			return
		}
		_, _ = io.WriteString(w, r.URL.Path+"?"+r.URL.RawQuery)
	}))
	cert, _ := serving.TLSCertificate()
	agent.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	agent.StartTLS()
	defer agent.Close()
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(agent.URL, "https://"))
	p, err := New(Config{
		CA: ca.CertPEM, Client: client,
		Node: func(context.Context, string) (*corev1.Node, error) {
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
			n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "n1"}, {Type: corev1.NodeInternalIP, Address: host}}
			pn, _ := strconv.Atoi(port)
			n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(pn)
			return n, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.ServePod(w, r, pod, strings.TrimPrefix(r.URL.Path, "/"))
	}))
	defer api.Close()

	req, _ := http.NewRequest(http.MethodGet, api.URL+"/log?container=a&tailLines=3", nil)
	req.Header.Set("Authorization", "Bearer secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "/containerLogs/demo/web/a?tailLines=3" {
		t.Errorf("log: %d %q", resp.StatusCode, body)
	}

	conn, err := net.Dial("tcp", strings.TrimPrefix(api.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "POST /attach?container=a&stdout=true HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\nUpgrade: test/1\r\n\r\n")
	br := bufio.NewReader(conn)
	up, err := http.ReadResponse(br, nil)
	if err != nil || up.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", up, err)
	}
	_, _ = io.WriteString(conn, "hello\n")
	line, _ := br.ReadString('\n')
	if line != "echo hello\n" {
		t.Errorf("through the upgraded connection: %q", line)
	}
}
