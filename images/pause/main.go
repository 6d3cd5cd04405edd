// Command pause is the sandbox (infra) container of a kindlike pod: it owns the pod's
// network and IPC namespaces and its hostname, and does nothing else. It sleeps until
// SIGTERM or SIGINT, then exits 0 at once, so deleting a pod never waits out a grace
// period on it. Running as PID 1, it reaps the zombies re-parented to it, as an init
// must.
//
// `pause -gateway IP` first makes IP, the pod's node, the pod's default route (see
// routeVia); it needs CAP_NET_ADMIN and root.
//
// `pause -publish-volume DIR` is the other job it has: the node agent runs it in the
// pod's pause container to swap a configMap, secret, downward API or projected
// volume to new content atomically (see publish).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kindlike/kindlike/images"
)

func main() {
	version := flag.Bool("version", false, "print the version and exit")
	generation := flag.String("publish-volume", "", "make this newly written generation directory of a volume its content (the node agent's atomic update), and exit")
	gateway := flag.String("gateway", "", "make this address (the pod's node) the default route of the pod's network before sleeping")
	flag.Parse()
	if *version {
		fmt.Println("kindlike pause", images.PauseVersion)
		return
	}
	if *generation != "" {
		if err := publish(*generation); err != nil {
			fmt.Fprintln(os.Stderr, "pause: publish volume:", err)
			os.Exit(1)
		}
		return
	}
	if *gateway != "" {
		// Without its route the pod cannot reach Services: fail, so the agent
		// reports it and tries again, rather than run a pod that half works.
		if err := routeVia(*gateway); err != nil {
			fmt.Fprintln(os.Stderr, "pause:", err)
			os.Exit(1)
		}
	}
	if os.Getpid() != 1 {
		// Still useful (it holds the namespaces), but orphans go to another init.
		fmt.Fprintln(os.Stderr, "pause: not PID 1: another process reaps this namespace's orphans")
	}

	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "pause: shutting down on %v\n", sig)
		os.Exit(0)
	}
}

// reap collects every exited child. Several SIGCHLDs may arrive as one, so it waits
// until no exited child is left rather than once per signal.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}
