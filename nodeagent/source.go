package nodeagent

import (
	"context"
	"fmt"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// apiSource is where pods' configuration comes from: ConfigMaps and Secrets from the
// agent's watch caches, read live when the cache does not have them yet (one created
// just before the pod), and service account tokens from the API.
type apiSource struct {
	client     kubernetes.Interface
	configMaps corelisters.ConfigMapLister
	secrets    corelisters.SecretLister
	claims     corelisters.PersistentVolumeClaimLister
	volumes    corelisters.PersistentVolumeLister

	mu          sync.Mutex
	allocatable corev1.ResourceList
	// tokens caches service account tokens per pod, audience and lifetime, so a
	// projected volume is not rewritten with a new token on every sync.
	tokens map[string]cachedToken
}

type cachedToken struct {
	token             string
	issued, expiresAt time.Time
}

// Errors worded as kubelet's, which pods show: `configmap "x" not found`.
var (
	configMapResource = schema.GroupResource{Resource: "configmap"}
	secretResource    = schema.GroupResource{Resource: "secret"}
)

func (s *apiSource) ConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	if cm, err := s.configMaps.ConfigMaps(ns).Get(name); err == nil {
		return cm, nil
	}
	cm, err := s.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(configMapResource, name)
	}
	return cm, err
}

func (s *apiSource) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	if sec, err := s.secrets.Secrets(ns).Get(name); err == nil {
		return sec, nil
	}
	sec, err := s.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(secretResource, name)
	}
	return sec, err
}

// PersistentVolumeClaim reads a claim from the cache, or from the API when the cache
// does not show it bound yet (it may lag behind the binding).
func (s *apiSource) PersistentVolumeClaim(ctx context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	if s.claims != nil {
		if pvc, err := s.claims.PersistentVolumeClaims(ns).Get(name); err == nil && pvc.Status.Phase == corev1.ClaimBound {
			return pvc, nil
		}
	}
	return s.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
}

// PersistentVolume reads a volume from the cache, or from the API.
func (s *apiSource) PersistentVolume(ctx context.Context, name string) (*corev1.PersistentVolume, error) {
	if s.volumes != nil {
		if pv, err := s.volumes.Get(name); err == nil && pv.Spec.ClaimRef != nil {
			return pv, nil
		}
	}
	return s.client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
}

// ServiceAccountToken returns a token for the pod's service account, asking the API
// for a new one once the cached one is past 80% of its life, as kubelet does.
func (s *apiSource) ServiceAccountToken(ctx context.Context, pod *corev1.Pod, audience string, expirationSeconds int64) (string, error) {
	key := fmt.Sprintf("%s/%s/%d", pod.UID, audience, expirationSeconds)
	s.mu.Lock()
	c, ok := s.tokens[key]
	s.mu.Unlock()
	if ok && time.Since(c.issued) < c.expiresAt.Sub(c.issued)*8/10 {
		return c.token, nil
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &expirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if audience != "" {
		req.Spec.Audiences = []string{audience}
	}
	tr, err := s.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, req, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if s.tokens == nil {
		s.tokens = map[string]cachedToken{}
	}
	for k, t := range s.tokens {
		if time.Now().After(t.expiresAt) {
			delete(s.tokens, k)
		}
	}
	s.tokens[key] = cachedToken{token: tr.Status.Token, issued: time.Now(), expiresAt: tr.Status.ExpirationTimestamp.Time}
	s.mu.Unlock()
	return tr.Status.Token, nil
}

func (s *apiSource) Allocatable() corev1.ResourceList {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.allocatable
}

func (s *apiSource) setAllocatable(l corev1.ResourceList) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.allocatable = l
}
