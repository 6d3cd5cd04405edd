// Package docker is kindlike's cluster.Provider on the Docker Engine API. It finds
// everything it made by label and keeps no other record.
package docker

import (
	"context"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/kindlike/kindlike/cluster"
)

// defaultSocket is the engine's socket as the daemon sees it, mounted into nodes.
const defaultSocket = "/var/run/docker.sock"

// Provider runs clusters on a Docker Engine.
type Provider struct {
	cli *client.Client
	// socket is the daemon's socket path on the daemon's host, for mounting into nodes.
	socket string
}

var _ cluster.Provider = (*Provider)(nil)

// New connects to the engine DOCKER_HOST names (else the default socket), speaking
// whichever API version it supports.
func New() (*Provider, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	socket := defaultSocket
	if path, ok := strings.CutPrefix(cli.DaemonHost(), "unix://"); ok && path != "" {
		socket = path
	}
	return &Provider{cli: cli, socket: socket}, nil
}

// Close releases the client's connections.
func (p *Provider) Close() error { return p.cli.Close() }

// Ping checks the engine answers.
func (p *Provider) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := p.cli.Ping(ctx); err != nil {
		if client.IsErrConnectionFailed(err) {
			// The client's own message says where it looked and what to check.
			return fmt.Errorf("cannot reach Docker: %w", err)
		}
		return fmt.Errorf("cannot reach Docker at %s: %w", p.cli.DaemonHost(), err)
	}
	return nil
}

// clusterFilter selects objects labelled with the cluster, or with any cluster.
func clusterFilter(name string) filters.Args {
	if name == "" {
		return filters.NewArgs(filters.Arg("label", cluster.LabelCluster))
	}
	return filters.NewArgs(filters.Arg("label", cluster.LabelCluster+"="+name))
}

func labels(clusterName, role string) map[string]string {
	l := map[string]string{cluster.LabelCluster: clusterName}
	if role != "" {
		l[cluster.LabelRole] = role
	}
	return l
}

// notFound turns the engine's not-found errors into cluster.ErrNotFound.
func notFound(err error) error {
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("%w: %s", cluster.ErrNotFound, err.Error())
	}
	return err
}
