package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/jsonmessage"
)

// Image is an image present in the engine.
type Image struct {
	ID          string
	RepoDigests []string
	// User is the image's default user, for runAsNonRoot checks.
	User string
	Size int64
}

// DisplayID is the image's ID as kubelet's Docker integration showed it in
// containerStatuses[].imageID: a pullable digest when the image came from a registry.
func (i Image) DisplayID() string {
	if len(i.RepoDigests) > 0 {
		return "docker-pullable://" + i.RepoDigests[0]
	}
	return "docker://" + i.ID
}

// ImageByRef returns the image ref names, or found=false when the engine lacks it.
func (r *Runtime) ImageByRef(ctx context.Context, ref string) (img Image, found bool, err error) {
	j, err := r.docker.ImageInspect(ctx, ref)
	if IsNotFound(err) {
		return Image{}, false, nil
	}
	if err != nil {
		return Image{}, false, err
	}
	img = Image{ID: j.ID, RepoDigests: j.RepoDigests, Size: j.Size}
	if j.Config != nil {
		img.User = j.Config.User
	}
	return img, true, nil
}

// Pull pulls ref through the engine; auth is a base64url JSON registry credential or
// empty. The error is the engine's own message, which pods show.
func (r *Runtime) Pull(ctx context.Context, ref, auth string) error {
	rc, err := r.docker.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err != nil {
		return err
	}
	defer rc.Close()
	// Progress arrives as JSON messages; an error mid-stream is one of them.
	dec := json.NewDecoder(rc)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if m.Error != nil {
			return errors.New(strings.TrimSpace(m.Error.Message))
		}
	}
}
