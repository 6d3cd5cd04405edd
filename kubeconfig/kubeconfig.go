// Package kubeconfig writes, merges and removes the kubeconfig entries of kindlike
// clusters, with client-go's own kubeconfig types.
package kubeconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Entry is one cluster's cluster, user and context, all named Context.
type Entry struct {
	// Context names the context, the cluster and the user: kindlike-<cluster name>.
	Context string
	// Server is the API URL, e.g. https://127.0.0.1:39012.
	Server string
	// CA is the cluster CA certificate (PEM).
	CA []byte
	// ClientCert and ClientKey (PEM) authenticate the user; or Token does.
	ClientCert, ClientKey []byte
	Token                 string
}

// Config returns the entry as a kubeconfig of its own, with its context current.
func (e Entry) Config() *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	e.addTo(cfg)
	cfg.CurrentContext = e.Context
	return cfg
}

func (e Entry) addTo(cfg *clientcmdapi.Config) {
	cluster := clientcmdapi.NewCluster()
	cluster.Server = e.Server
	cluster.CertificateAuthorityData = e.CA
	user := clientcmdapi.NewAuthInfo()
	user.ClientCertificateData = e.ClientCert
	user.ClientKeyData = e.ClientKey
	user.Token = e.Token
	ctx := clientcmdapi.NewContext()
	ctx.Cluster, ctx.AuthInfo = e.Context, e.Context
	cfg.Clusters[e.Context] = cluster
	cfg.AuthInfos[e.Context] = user
	cfg.Contexts[e.Context] = ctx
}

// Write writes the entry alone to path, replacing the file.
func Write(path string, e Entry) error {
	return write(path, e.Config())
}

// Merge adds or replaces the entry in the kubeconfig at path (created if missing) and
// makes its context current, keeping every other entry.
func Merge(path string, e Entry) error {
	cfg, err := load(path)
	if err != nil {
		return err
	}
	e.addTo(cfg)
	cfg.CurrentContext = e.Context
	return write(path, cfg)
}

// Remove deletes the context, cluster and user named context from the kubeconfig at
// path; the current context is cleared if it was that one. A missing file is fine.
func Remove(path, context string) error {
	cfg, err := load(path)
	if err != nil {
		return err
	}
	if _, ok := cfg.Contexts[context]; !ok {
		return nil
	}
	delete(cfg.Contexts, context)
	delete(cfg.Clusters, context)
	delete(cfg.AuthInfos, context)
	if cfg.CurrentContext == context {
		cfg.CurrentContext = ""
	}
	return write(path, cfg)
}

// write replaces the file at path with cfg; clientcmd makes the directory if need be.
func write(path string, cfg *clientcmdapi.Config) error {
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

func load(path string) (*clientcmdapi.Config, error) {
	cfg, err := clientcmd.LoadFromFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return clientcmdapi.NewConfig(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

// DefaultPath is where kubectl looks: the first file of $KUBECONFIG, else ~/.kube/config.
func DefaultPath() string {
	if env := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); env != "" {
		if list := filepath.SplitList(env); len(list) > 0 {
			return list[0]
		}
	}
	return clientcmd.RecommendedHomeFile
}
