// Package images names the container images kindlike builds itself (the pod sandbox's
// pause image and the demo web app) and the labels on every image it builds, including
// the offline stand-ins for the public images the tutorials name.
//
// The images are built by `make images` and `make offline-images` (images/build.sh);
// nothing here talks to Docker.
package images

// The pause image: the first container of every pod, which holds the pod's network and
// IPC namespaces and its hostname. Bump PauseVersion whenever images/pause changes, so
// a node never runs a pause image built from other sources under the same tag.
//
// The image is FROM scratch: entrypoint ["/pause"], no arguments, user 65535:65535. It
// sleeps until SIGTERM or SIGINT, then exits 0 at once; as PID 1 it reaps the zombies
// re-parented to it. `pause -publish-volume DIR` swaps a volume to the generation
// directory DIR the agent wrote (kubelet's atomic writer layout) and exits; the agent
// runs it as root in the pause container. `pause -gateway IP` (the agent starts every
// pod's pause container so, as root with CAP_NET_ADMIN) first routes the pod's
// traffic through its node.
const (
	PauseVersion = "1.3.0"
	PauseImage   = "kindlike/pause:1.3.0"
)

// The demo web app: kindlike's own build of a service that answers like the
// tutorials' quay.io/openshiftlabs/simple-service:0.5.0 (port 9876, /health, /info,
// /env, /endpoint0), plus a switch that makes /health fail.
const (
	SimpleServiceVersion = "0.5.0"
	SimpleServiceImage   = "kindlike/simple-service:0.5.0"
)

// Labels on the images kindlike builds.
const (
	// LabelImage names which of kindlike's own images this is: "pause" or
	// "simple-service".
	LabelImage = "kindlike.image"
	// LabelStandIn is "true" on a local stand-in for a public image: an image built
	// offline under a public name (nginx:1.19, busybox:1.31, ...) that is not the
	// real one. LabelDescription says what it really is.
	LabelStandIn = "kindlike.stand-in"
	// LabelRecipe holds a hash of what a stand-in was built from; make offline-images
	// rebuilds a stand-in whose recipe changed, and never touches an image without
	// LabelStandIn.
	LabelRecipe = "kindlike.stand-in.recipe"
	// LabelDescription is the OCI description label.
	LabelDescription = "org.opencontainers.image.description"
)
