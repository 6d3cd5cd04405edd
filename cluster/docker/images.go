package docker

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/kindlike/kindlike/cluster"
)

// NodeImageRepository is the repository of node images; the tag is the first 12 hex
// digits of the binary's SHA-256, so each build of kindlike has its own image and an
// unchanged binary is never rebuilt.
const NodeImageRepository = "kindlike/node"

// labelBinary holds the binary's full SHA-256 on the image.
const labelBinary = "kindlike.binary.sha256"

// nodeDockerfile makes the node image: the binary and the directories it writes to,
// nothing else. Node containers run `kindlike node`; the load balancer is the same
// image with other arguments.
const nodeDockerfile = `FROM scratch
COPY rootfs/ /
ENTRYPOINT ["/kindlike"]
CMD ["node"]
`

// NodeImageRef is the image reference of the node image made from binary.
func NodeImageRef(binary string) (string, error) {
	sum, err := binarySum(binary)
	if err != nil {
		return "", err
	}
	return NodeImageRepository + ":" + sum[:12], nil
}

// EnsureNodeImage builds the node image from binary through the engine's build API,
// unless an image of that binary exists. Nothing is pulled: the image is FROM scratch.
func (p *Provider) EnsureNodeImage(ctx context.Context, binary string) (string, bool, error) {
	if err := checkStatic(binary); err != nil {
		return "", false, err
	}
	sum, err := binarySum(binary)
	if err != nil {
		return "", false, err
	}
	ref := NodeImageRepository + ":" + sum[:12]
	img, err := p.cli.ImageInspect(ctx, ref)
	if err == nil && img.Config != nil && img.Config.Labels[labelBinary] == sum {
		return ref, false, nil
	}
	if err != nil && !cerrdefs.IsNotFound(err) {
		return "", false, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	if err := p.buildNodeImage(ctx, binary, ref, sum); err != nil {
		return "", false, fmt.Errorf("build node image %s: %w", ref, err)
	}
	return ref, true, nil
}

// buildNodeImage builds under a tag of its own, then gives the image the shared tag
// unless another build (a create running at the same time) got there first: retagging
// would leave that build's image untagged and never removed.
func (p *Provider) buildNodeImage(ctx context.Context, binary, ref, sum string) error {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	tmp := ref + "-build-" + hex.EncodeToString(suffix)
	if err := p.build(ctx, binary, tmp, sum); err != nil {
		return err
	}
	defer func() {
		// Untags, and deletes the image if it did not get the shared tag.
		_, _ = p.cli.ImageRemove(context.WithoutCancel(ctx), tmp, image.RemoveOptions{PruneChildren: true})
	}()
	if _, err := p.cli.ImageInspect(ctx, ref); err == nil {
		return nil
	}
	return p.cli.ImageTag(ctx, tmp, ref)
}

func (p *Provider) build(ctx context.Context, binary, ref, sum string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeBuildContext(pw, binary)) }()
	defer pr.Close()
	resp, err := p.cli.ImageBuild(ctx, pr, build.ImageBuildOptions{
		Tags:        []string{ref},
		Labels:      map[string]string{cluster.LabelImage: "true", labelBinary: sum},
		Remove:      true,
		ForceRemove: true,
		Dockerfile:  "Dockerfile",
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// The build's output is a stream of JSON messages; an error arrives as one.
	return jsonmessage.DisplayJSONMessagesStream(resp.Body, io.Discard, 0, false, nil)
}

// writeBuildContext writes the build context as a tar: the Dockerfile and rootfs/
// holding the binary and empty directories for config, certificates, state and /tmp.
func writeBuildContext(w io.Writer, binary string) error {
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(nodeDockerfile))}); err != nil {
		return err
	}
	if _, err := io.WriteString(tw, nodeDockerfile); err != nil {
		return err
	}
	for _, dir := range []struct {
		name string
		mode int64
	}{
		{"rootfs/", 0o755}, {"rootfs/etc/", 0o755}, {"rootfs/etc/kindlike/", 0o755},
		{"rootfs/etc/kindlike/pki/", 0o700}, {"rootfs/var/", 0o755}, {"rootfs/var/lib/", 0o755},
		{"rootfs/var/lib/kindlike/", 0o700}, {"rootfs/tmp/", 0o1777},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: dir.name, Typeflag: tar.TypeDir, Mode: dir.mode}); err != nil {
			return err
		}
	}
	f, err := os.Open(binary)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "rootfs/kindlike", Mode: 0o755, Size: st.Size()}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return err
	}
	return tw.Close()
}

func binarySum(binary string) (string, error) {
	f, err := os.Open(binary)
	if err != nil {
		return "", fmt.Errorf("read kindlike binary: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read kindlike binary: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkStatic refuses a binary that cannot run in a FROM-scratch image: not a Linux
// ELF executable, or one that needs a dynamic loader and libraries.
func checkStatic(binary string) error {
	how := "build a static one with `make build` (CGO_ENABLED=0) and run bin/kindlike"
	if _, err := os.Stat(binary); err != nil {
		return fmt.Errorf("read kindlike binary: %w", err)
	}
	f, err := elf.Open(binary)
	if err != nil {
		return fmt.Errorf("%s is not a Linux executable, and node containers run the kindlike binary itself: %s", binary, how)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked, and node containers have no C library: %s", filepath.Base(binary), how)
		}
	}
	return nil
}
