package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path"

	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/pki"
)

// Files kept on control-plane nodes beside config's, so that the cluster itself is
// the record of its credentials: `add node` signs with the CA key, `get kubeconfig`
// reads the admin certificate.
const (
	caKeyFile = "ca.key"
	adminName = "admin" // admin.crt, admin.key: O system:masters
)

// kubernetesServiceIP is the ClusterIP of the default/kubernetes Service (the first
// address of the Service range), which pods use to reach the API.
var kubernetesServiceIP = net.ParseIP("10.96.0.1")

// credentials are a cluster's CA and admin client certificate.
type credentials struct {
	ca    *pki.CA
	admin pki.KeyPair
}

func newCredentials(clusterName string) (*credentials, error) {
	ca, err := pki.NewCA("kindlike-" + clusterName + "-ca")
	if err != nil {
		return nil, err
	}
	admin, err := ca.Sign(pki.Request{CommonName: "kubernetes-admin", Organizations: []string{"system:masters"}, Client: true})
	if err != nil {
		return nil, err
	}
	return &credentials{ca: ca, admin: admin}, nil
}

// pkiFile is a file in the node's certificate directory.
func pkiFile(name string, data []byte, secret bool) File {
	mode := int64(0o644)
	if secret {
		mode = 0o600
	}
	return File{Path: path.Join(config.NodePKIDir, name), Mode: mode, Data: data}
}

func keyPairFiles(name string, kp pki.KeyPair) []File {
	return []File{pkiFile(name+".crt", kp.CertPEM, false), pkiFile(name+".key", kp.KeyPEM, true)}
}

// nodeCertFiles signs a node's certificates:
//   - every node: the CA certificate and the agent's certificate (CN
//     system:node:<name>, O system:nodes), good as a client of the API and as the
//     agent's own serving certificate (logs, exec);
//   - control planes also: the API serving certificate (the node's name and address,
//     localhost, the load balancer's name, the kubernetes Service's names and
//     address), the Raft peer certificate (server and client), the API server's
//     client certificate towards agents, the CA key and the admin certificate.
func (c *credentials) nodeCertFiles(name, role string, ip net.IP, lbName string) ([]File, error) {
	var ips []net.IP
	if ip != nil {
		ips = append(ips, ip)
	}
	files := []File{pkiFile(config.CACert, c.ca.CertPEM, false)}
	agent, err := c.ca.Sign(pki.Request{
		CommonName: "system:node:" + name, Organizations: []string{"system:nodes"},
		DNSNames: []string{name}, IPs: ips, Client: true, Server: true,
	})
	if err != nil {
		return nil, err
	}
	files = append(files, keyPairFiles(config.AgentName, agent)...)
	if role != config.RoleControlPlane {
		return files, nil
	}
	dns := []string{name, "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if lbName != "" {
		dns = append(dns, lbName)
	}
	serving, err := c.ca.Sign(pki.Request{
		CommonName: name, DNSNames: dns,
		IPs:    append(append([]net.IP{}, ips...), net.IPv4(127, 0, 0, 1), kubernetesServiceIP),
		Server: true,
	})
	if err != nil {
		return nil, err
	}
	peer, err := c.ca.Sign(pki.Request{CommonName: name, DNSNames: []string{name}, IPs: ips, Server: true, Client: true})
	if err != nil {
		return nil, err
	}
	// The API server's identity towards node agents (logs, exec, port-forward).
	kubeletClient, err := c.ca.Sign(pki.Request{CommonName: config.KubeletClientCN, Organizations: []string{"system:masters"}, Client: true})
	if err != nil {
		return nil, err
	}
	files = append(files, keyPairFiles(config.KubeletClientName, kubeletClient)...)
	files = append(files, keyPairFiles(config.APIServerName, serving)...)
	files = append(files, keyPairFiles(config.PeerName, peer)...)
	files = append(files, keyPairFiles(adminName, c.admin)...)
	files = append(files, pkiFile(caKeyFile, c.ca.KeyPEM, true))
	return files, nil
}

// readCredentials reads a cluster's CA and admin certificate back from one of its
// control-plane nodes, running or not.
func readCredentials(ctx context.Context, p Provider, nodes []Node) (*credentials, error) {
	lastErr := errors.New("no control-plane node found")
	for _, n := range nodes {
		if n.Role != config.RoleControlPlane {
			continue
		}
		files := map[string][]byte{}
		var err error
		for _, f := range []string{config.CACert, caKeyFile, adminName + ".crt", adminName + ".key"} {
			if files[f], err = p.ReadFile(ctx, n.Name, path.Join(config.NodePKIDir, f)); err != nil {
				break
			}
		}
		if err != nil {
			lastErr = err
			continue
		}
		ca, err := pki.ParseCA(files[config.CACert], files[caKeyFile])
		if err != nil {
			lastErr = fmt.Errorf("CA of node %s: %w", n.Name, err)
			continue
		}
		return &credentials{ca: ca, admin: pki.KeyPair{CertPEM: files[adminName+".crt"], KeyPEM: files[adminName+".key"]}}, nil
	}
	return nil, fmt.Errorf("read the cluster's credentials: %w", lastErr)
}
