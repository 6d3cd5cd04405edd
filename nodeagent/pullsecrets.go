package nodeagent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/registry"
	corev1 "k8s.io/api/core/v1"
)

// dockerAuth is one registry's entry in a docker config.
type dockerAuth struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Auth     string `json:"auth"`
}

// registryAuth finds credentials for image's registry among the pod's
// imagePullSecrets (kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg), in
// the form the engine takes them; "" when there are none.
func (a *agent) registryAuth(ctx context.Context, pod *corev1.Pod, image string) string {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return ""
	}
	host := reference.Domain(named)
	for _, ref := range pod.Spec.ImagePullSecrets {
		s, err := a.source.Secret(ctx, pod.Namespace, ref.Name)
		if err != nil {
			continue
		}
		auths := map[string]dockerAuth{}
		switch s.Type {
		case corev1.SecretTypeDockerConfigJson:
			var cfg struct {
				Auths map[string]dockerAuth `json:"auths"`
			}
			if json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &cfg) == nil {
				auths = cfg.Auths
			}
		case corev1.SecretTypeDockercfg:
			_ = json.Unmarshal(s.Data[corev1.DockerConfigKey], &auths)
		}
		for server, auth := range auths {
			if registryHost(server) != host {
				continue
			}
			if auth.Auth != "" && auth.Username == "" {
				if raw, err := base64.StdEncoding.DecodeString(auth.Auth); err == nil {
					auth.Username, auth.Password, _ = strings.Cut(string(raw), ":")
				}
			}
			enc, err := registry.EncodeAuthConfig(registry.AuthConfig{Username: auth.Username, Password: auth.Password, ServerAddress: server})
			if err == nil {
				return enc
			}
		}
	}
	return ""
}

// registryHost is the registry a docker config key names, as image references name
// it ("https://index.docker.io/v1/" is docker.io).
func registryHost(key string) string {
	if u, err := url.Parse(key); err == nil && u.Host != "" {
		key = u.Host
	}
	key, _, _ = strings.Cut(key, "/")
	switch key {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "docker.io"
	}
	return key
}
