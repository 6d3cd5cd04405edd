// Package version names the versions kindlike reports: its own, and the Kubernetes
// version its API speaks (taken from the k8s.io modules it is built with).
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	k8sversion "k8s.io/apimachinery/pkg/version"
)

// Kindlike is kindlike's own version; `make` sets it from git.
var Kindlike = "dev"

var kube = sync.OnceValue(func() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "k8s.io/client-go" && strings.HasPrefix(dep.Version, "v0.") {
				return "v1." + strings.TrimPrefix(dep.Version, "v0.")
			}
		}
	}
	return "v1.32.0"
})

// Kubernetes is the Kubernetes version kindlike's API speaks, e.g. v1.32.13.
func Kubernetes() string { return kube() }

// Server is what the API server and node agents report as their version, in the
// form k3s uses: the Kubernetes version with kindlike as build metadata.
func Server() string { return Kubernetes() + "+kindlike" }

// Info is the /version document.
func Info() k8sversion.Info {
	var major, minor string
	parts := strings.SplitN(strings.TrimPrefix(Kubernetes(), "v"), ".", 3)
	if len(parts) >= 2 {
		major, minor = parts[0], parts[1]
	}
	return k8sversion.Info{
		Major:        major,
		Minor:        minor,
		GitVersion:   Server(),
		GitCommit:    Kindlike,
		GitTreeState: "clean",
		GoVersion:    runtime.Version(),
		Compiler:     runtime.Compiler,
		Platform:     fmt.Sprintf("%s/%s", runtime.GOOS, runtime.GOARCH),
	}
}
