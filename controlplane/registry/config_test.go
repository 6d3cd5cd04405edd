package registry

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestConfigMapValidation(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(cm *corev1.ConfigMap)
		want   []string
	}{
		{"bad key", func(cm *corev1.ConfigMap) { cm.Data["app/properties"] = "x" },
			[]string{`data[app/properties]: Invalid value: "app/properties": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`}},
		{"key in both bags", func(cm *corev1.ConfigMap) { cm.BinaryData = map[string][]byte{"lang": []byte("en")} },
			[]string{`data[lang]: Invalid value: "lang": duplicate of key present in binaryData`}},
		{"too big", func(cm *corev1.ConfigMap) { cm.Data["big"] = strings.Repeat("x", maxConfigSize) },
			// The empty path (the whole object) prints as "[]".
			[]string{"[]: Too long: may not be more than 1048576 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := scenarioObject[*corev1.ConfigMap](t, "10-configmap-secret.yaml", "cm-demo-mix")
			tt.mutate(cm)
			checkErrors(t, createObject(t, ConfigMaps, cm), tt.want)
		})
	}

	old := scenarioObject[*corev1.ConfigMap](t, "10-configmap-secret.yaml", "cm-demo-mix")
	old.Immutable = ptr.To(true)
	createObject(t, ConfigMaps, old)
	changed := old.DeepCopy()
	changed.Data["lang"] = "fr"
	changed.Immutable = nil
	checkErrors(t, updateObject(t, ConfigMaps, changed, old), []string{
		"immutable: Forbidden: field is immutable when `immutable` is set",
		"data: Forbidden: field is immutable when `immutable` is set",
	})
}

func TestSecretValidation(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *corev1.Secret)
		want   []string
	}{
		{"tls without key", func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeTLS
			s.StringData = map[string]string{"tls.crt": "cert"}
		}, []string{"data[tls.key]: Required value"}},
		{"docker config not JSON", func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeDockerConfigJson
			s.StringData = map[string]string{".dockerconfigjson": "{"}
		}, []string{`data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": unexpected end of JSON input`}},
		{"basic auth without either key", func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeBasicAuth
			s.StringData = map[string]string{"user": "admin"}
		}, []string{"data[username]: Required value", "data[password]: Required value"}},
		{"service account token without its account", func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeServiceAccountToken
		}, []string{"metadata.annotations[kubernetes.io/service-account.name]: Required value"}},
		{"bad key", func(s *corev1.Secret) {
			s.StringData = map[string]string{"pass word": "x"}
		}, []string{`data[pass word]: Invalid value: "pass word": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`}},
		{"too big", func(s *corev1.Secret) {
			s.StringData = map[string]string{"big": strings.Repeat("x", maxConfigSize+1)}
		}, []string{"data: Too long: may not be more than 1048576 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := scenarioObject[*corev1.Secret](t, "10-configmap-secret.yaml", "db-secret")
			s.Type = ""
			tt.mutate(s)
			checkErrors(t, createObject(t, Secrets, s), tt.want)
		})
	}

	old := scenarioObject[*corev1.Secret](t, "10-configmap-secret.yaml", "db-secret")
	createObject(t, Secrets, old)
	retyped := old.DeepCopy()
	retyped.Type = corev1.SecretTypeBasicAuth
	checkErrors(t, updateObject(t, Secrets, retyped, old), []string{`type: Invalid value: "kubernetes.io/basic-auth": field is immutable`})
	// An update that leaves the type out keeps it.
	untyped := old.DeepCopy()
	untyped.Type = ""
	Secrets.Strategy.PrepareForUpdate(untyped, old)
	if untyped.Type != corev1.SecretTypeOpaque {
		t.Errorf("type after an untyped update: %q", untyped.Type)
	}
	if diff := Secrets.Strategy.Fields(old); !diff.Has("type") || diff.Get("type") != "Opaque" {
		t.Errorf("fields %v", diff)
	}
}
