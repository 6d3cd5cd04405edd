package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kindlike/kindlike/config"
)

// ExportLogs writes what is needed to debug a cluster into dir: for every container
// of the cluster (nodes, load balancer, pods) its logs and `docker inspect`; for each
// control plane its Raft status; the cluster's status; and, if the API answers, its
// nodes, leases, pods and events. It carries on past what it cannot read, and says
// what that was.
func ExportLogs(ctx context.Context, p Provider, clusterName, dir string) error {
	nodes, err := clusterNodes(ctx, p, clusterName)
	if err != nil {
		return err
	}
	objs, err := p.Objects(ctx, clusterName)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var errs []error
	fail := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	write := func(name string, data []byte) error {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return os.WriteFile(path, data, 0o644)
	}
	fail(forEach(ctx, objs.Containers, func(ctx context.Context, o Object) error {
		inspect, err := p.Inspect(ctx, o.Name)
		if err != nil {
			return err
		}
		if err := write(filepath.Join(o.Name, "inspect.json"), inspect); err != nil {
			return err
		}
		if !keepsLogs(inspect) {
			return nil // pause containers log nowhere
		}
		f, err := os.Create(filepath.Join(mkdir(dir, o.Name), "logs.txt"))
		if err != nil {
			return err
		}
		return errors.Join(p.Logs(ctx, o.Name, f), f.Close())
	}))

	st, err := GetStatus(ctx, p, clusterName)
	if err != nil {
		fail(err)
	} else {
		f, err := os.Create(filepath.Join(dir, "status.txt"))
		if err == nil {
			fail(errors.Join(st.Write(f), f.Close()))
		}
		fail(err)
	}
	creds, err := readCredentials(ctx, p, nodes)
	fail(err)
	for _, n := range nodes {
		if n.Role != config.RoleControlPlane || creds == nil || !n.Running() {
			continue
		}
		api, err := newAPIClient(creds.entry("", hostServer(n.APIHostPort)))
		if err != nil {
			fail(err)
			continue
		}
		var raw json.RawMessage
		if err := api.do(ctx, "GET", raftStatusPath, nil, &raw); err != nil {
			fail(fmt.Errorf("%s: Raft status: %w", n.Name, err))
			continue
		}
		fail(write(filepath.Join(n.Name, "raft.json"), indentJSON(raw)))
	}
	if creds != nil {
		fail(exportAPIObjects(ctx, p, clusterName, creds, nodes, write))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("some logs could not be exported: %w", err)
	}
	return nil
}

// keepsLogs says whether a container, by its docker inspect, has logs to read:
// not with the "none" logging driver.
func keepsLogs(inspect []byte) bool {
	var c struct {
		HostConfig struct {
			LogConfig struct{ Type string }
		}
	}
	return json.Unmarshal(inspect, &c) != nil || c.HostConfig.LogConfig.Type != "none"
}

func mkdir(dir, name string) string {
	path := filepath.Join(dir, name)
	_ = os.MkdirAll(path, 0o755)
	return path
}

func indentJSON(b []byte) []byte {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return b
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return b
	}
	return out
}

func exportAPIObjects(ctx context.Context, p Provider, clusterName string, creds *credentials, nodes []Node, write func(string, []byte) error) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	entry, err := creds.kubeconfig(ctx, p, clusterName, nodes, false)
	if err != nil {
		return err
	}
	api, err := newAPIClient(entry)
	if err != nil {
		return err
	}
	cs, err := api.clientset()
	if err != nil {
		return err
	}
	var errs []error
	save := func(name string, obj any, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("API: %s: %w", name, err))
			return
		}
		b, err := json.MarshalIndent(obj, "", "  ")
		if err == nil {
			err = write(filepath.Join("api", name+".json"), b)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	all := metav1.ListOptions{}
	nodeList, err := cs.CoreV1().Nodes().List(ctx, all)
	save("nodes", nodeList, err)
	leases, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, all)
	save("leases", leases, err)
	pods, err := cs.CoreV1().Pods("").List(ctx, all)
	save("pods", pods, err)
	events, err := cs.CoreV1().Events("").List(ctx, all)
	save("events", events, err)
	return errors.Join(errs...)
}
