package nodeagent

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kindlike/kindlike/nodeagent/downward"
)

// envList is environment variables in the order they were first set, the last
// value of each winning.
type envList struct {
	names  []string
	values map[string]string
}

func (e *envList) set(k, v string) {
	if e.values == nil {
		e.values = map[string]string{}
	}
	if _, ok := e.values[k]; !ok {
		e.names = append(e.names, k)
	}
	e.values[k] = v
}

func (e *envList) lookup(k string) (string, bool) {
	v, ok := e.values[k]
	return v, ok
}

func (e *envList) list() []string {
	out := make([]string, 0, len(e.names))
	for _, k := range e.names {
		out = append(out, k+"="+e.values[k])
	}
	return out
}

// containerEnv works out a container's environment as kubelet does: envFrom sources
// in order, then env in order, each value with $(VAR) references to what came
// before expanded. Its errors are the container's CreateContainerConfigError message.
func (a *agent) containerEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (*envList, error) {
	env := &envList{}
	for _, kv := range a.serviceEnv(pod) {
		env.set(kv[0], kv[1])
	}
	for _, from := range c.EnvFrom {
		var data map[string]string
		var kind, name string
		var invalid []string
		switch {
		case from.ConfigMapRef != nil:
			kind, name = "configMap", from.ConfigMapRef.Name
			cm, err := a.source.ConfigMap(ctx, pod.Namespace, name)
			if err != nil {
				if apierrors.IsNotFound(err) && from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
					continue
				}
				return nil, err
			}
			data = cm.Data
		case from.SecretRef != nil:
			kind, name = "secret", from.SecretRef.Name
			s, err := a.source.Secret(ctx, pod.Namespace, name)
			if err != nil {
				if apierrors.IsNotFound(err) && from.SecretRef.Optional != nil && *from.SecretRef.Optional {
					continue
				}
				return nil, err
			}
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
		default:
			continue
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			k2 := from.Prefix + k
			// Kubernetes 1.32 validates names the relaxed way (RelaxedEnvironmentVariableValidation).
			if errs := validation.IsRelaxedEnvVarName(k2); len(errs) > 0 {
				invalid = append(invalid, k2)
				continue
			}
			env.set(k2, data[k])
		}
		if len(invalid) > 0 {
			a.recorder.Eventf(podRef(pod), corev1.EventTypeWarning, reasonInvalidEnvNames,
				"Keys [%s] from the EnvFrom %s %s/%s were skipped since they are considered invalid environment variable names.",
				strings.Join(invalid, ", "), kind, pod.Namespace, name)
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env.set(e.Name, expand(e.Value, env.lookup))
			continue
		}
		v, ok, err := a.envValueFrom(ctx, pod, c, e.ValueFrom)
		if err != nil {
			return nil, err
		}
		if ok {
			env.set(e.Name, v)
		}
	}
	return env, nil
}

// envValueFrom reads one env var's source; ok is false for an optional key or object
// that is missing.
func (a *agent) envValueFrom(ctx context.Context, pod *corev1.Pod, c *corev1.Container, from *corev1.EnvVarSource) (string, bool, error) {
	optional := func(p *bool) bool { return p != nil && *p }
	switch {
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm, err := a.source.ConfigMap(ctx, pod.Namespace, ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, err
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("couldn't find key %v in ConfigMap %v/%v", ref.Key, pod.Namespace, ref.Name)
		}
		return v, true, nil
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		s, err := a.source.Secret(ctx, pod.Namespace, ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, err
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("couldn't find key %v in Secret %v/%v", ref.Key, pod.Namespace, ref.Name)
		}
		return string(v), true, nil
	case from.FieldRef != nil:
		v, err := downward.FieldValue(pod, from.FieldRef.FieldPath)
		return v, err == nil, err
	case from.ResourceFieldRef != nil:
		r := from.ResourceFieldRef
		name := r.ContainerName
		if name == "" {
			name = c.Name
		}
		v, err := downward.ResourceValue(pod, name, r.Resource, r.Divisor, a.source.Allocatable())
		return v, err == nil, err
	}
	return "", false, nil
}

// serviceEnv is what kubelet gives every container of a pod about the Services that
// existed when it started: the kubernetes Service of the default namespace always,
// and, unless enableServiceLinks is false, every Service of the pod's own namespace
// that has a ClusterIP, as {NAME}_SERVICE_HOST/_PORT and the Docker-links variables.
// A pod started before a Service never sees it: environment never changes.
func (a *agent) serviceEnv(pod *corev1.Pod) [][2]string {
	if a.services == nil {
		return nil
	}
	byName := map[string]*corev1.Service{}
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		list, _ := a.services.Services(pod.Namespace).List(labels.Everything())
		for _, s := range list {
			byName[s.Name] = s
		}
	}
	if k, err := a.services.Services(metav1.NamespaceDefault).Get("kubernetes"); err == nil {
		byName[k.Name] = k
	}
	return serviceLinks(byName)
}

// serviceLinks are the variables of the Services given, by name, sorted so that a
// pod's environment reads the same on every start.
func serviceLinks(byName map[string]*corev1.Service) [][2]string {
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	var out [][2]string
	for _, n := range names {
		s := byName[n]
		if s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone || len(s.Spec.Ports) == 0 {
			continue
		}
		prefix := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
		ip := s.Spec.ClusterIP
		first := s.Spec.Ports[0]
		out = append(out, [2]string{prefix + "_SERVICE_HOST", ip}, [2]string{prefix + "_SERVICE_PORT", strconv.Itoa(int(first.Port))})
		for _, p := range s.Spec.Ports {
			if p.Name != "" {
				out = append(out, [2]string{prefix + "_SERVICE_PORT_" + strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_")), strconv.Itoa(int(p.Port))})
			}
		}
		proto := strings.ToLower(string(first.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		out = append(out, [2]string{prefix + "_PORT", fmt.Sprintf("%s://%s:%d", proto, ip, first.Port)})
		for _, p := range s.Spec.Ports {
			pr := strings.ToLower(string(p.Protocol))
			if pr == "" {
				pr = "tcp"
			}
			base := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(pr))
			out = append(out,
				[2]string{base, fmt.Sprintf("%s://%s:%d", pr, ip, p.Port)},
				[2]string{base + "_PROTO", pr},
				[2]string{base + "_PORT", strconv.Itoa(int(p.Port))},
				[2]string{base + "_ADDR", ip})
		}
	}
	return out
}

// expand replaces $(NAME) by NAME's value where lookup knows it, and $$ by $, leaving
// everything else as written: Kubernetes' rules for env values, command and args.
func expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok && name != "" {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
