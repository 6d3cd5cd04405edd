// Package addons keeps the kube-system workloads every kubeadm cluster has: a
// kube-proxy DaemonSet on every node and CoreDNS's Deployment behind the kube-dns
// Service. Both run kindlike itself (the node image), as pods the students can list,
// describe and read the logs of.
package addons

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/pki"
)

// Config is what the add-ons are made of.
type Config struct {
	// Image is the node image: the add-ons' pods run its kindlike binary. Empty: no
	// add-ons (a control plane outside a Docker cluster, as in tests).
	Image string
	// APIServer is the URL the add-ons reach the API at from the cluster network.
	APIServer string
	// CA signs the add-ons' client certificates; CACert is its certificate (PEM).
	CA     *pki.CA
	CACert []byte
	// Network is the cluster's address plan.
	Network config.Network
}

// Names of the add-on objects, as kubeadm has them.
const (
	KubeProxy      = "kube-proxy"
	CoreDNS        = "coredns"
	KubeDNSService = "kube-dns"
	// hashAnnotation records what an object was made from: an object whose hash
	// differs is brought back to what this kindlike wants (an upgrade fixes it).
	hashAnnotation = "kindlike.dev/addon-hash"
	kubeconfigKey  = "kubeconfig"
)

// Ensure creates or repairs every add-on, retrying until the API takes them or ctx
// ends. The leader runs it when it takes office.
func Ensure(ctx context.Context, client kubernetes.Interface, cfg Config, log *slog.Logger) error {
	if cfg.Image == "" {
		return nil
	}
	objs, err := objects(ctx, client, cfg)
	if err != nil {
		return err
	}
	for _, o := range objs {
		for attempt := 1; ; attempt++ {
			err := apply(ctx, client, o)
			if err == nil {
				break
			}
			if attempt%10 == 1 {
				log.Warn("add-on not applied yet; retrying", "object", o.describe(), "attempt", attempt, "err", err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	log.Info("add-ons in place", "kube-proxy", cfg.Image, "coredns", cfg.Image)
	return nil
}

// object is one add-on object with its hash.
type object struct {
	secret     *corev1.Secret
	service    *corev1.Service
	daemonSet  *appsv1.DaemonSet
	deployment *appsv1.Deployment
}

func (o object) describe() string {
	switch {
	case o.secret != nil:
		return "secret/" + o.secret.Name
	case o.service != nil:
		return "service/" + o.service.Name
	case o.daemonSet != nil:
		return "daemonset/" + o.daemonSet.Name
	default:
		return "deployment/" + o.deployment.Name
	}
}

func objects(ctx context.Context, client kubernetes.Interface, cfg Config) ([]object, error) {
	dnsIP, err := cfg.Network.ClusterDNS()
	if err != nil {
		return nil, err
	}
	var out []object
	for _, name := range []string{KubeProxy, CoreDNS} {
		s, err := kubeconfigSecret(ctx, client, cfg, name)
		if err != nil {
			return nil, err
		}
		if s != nil {
			out = append(out, object{secret: s})
		}
	}
	out = append(out,
		object{daemonSet: kubeProxyDaemonSet(cfg)},
		object{service: kubeDNSService(dnsIP)},
		object{deployment: coreDNSDeployment(cfg)},
	)
	return out, nil
}

// kubeconfigSecret is the add-on's credentials: a kubeconfig with a client
// certificate for system:<name> (kube-proxy's is kubeadm's system:kube-proxy in
// system:node-proxier). An existing Secret is kept: nil means nothing to write.
func kubeconfigSecret(ctx context.Context, client kubernetes.Interface, cfg Config, name string) (*corev1.Secret, error) {
	if s, err := client.CoreV1().Secrets(metav1.NamespaceSystem).Get(ctx, name, metav1.GetOptions{}); err == nil && len(s.Data[kubeconfigKey]) > 0 {
		return nil, nil
	}
	if cfg.CA == nil {
		return nil, fmt.Errorf("no CA key to sign the %s credentials", name)
	}
	req := pki.Request{CommonName: "system:" + name, Client: true}
	if name == KubeProxy {
		req.Organizations = []string{"system:node-proxier"}
	}
	kp, err := cfg.CA.Sign(req)
	if err != nil {
		return nil, fmt.Errorf("sign %s credentials: %w", name, err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kindlike"] = &clientcmdapi.Cluster{Server: cfg.APIServer, CertificateAuthorityData: cfg.CACert}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: kp.CertPEM, ClientKeyData: kp.KeyPEM}
	kc.Contexts["default"] = &clientcmdapi.Context{Cluster: "kindlike", AuthInfo: name}
	kc.CurrentContext = "default"
	b, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceSystem, Labels: map[string]string{"k8s-app": name}},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{kubeconfigKey: b},
	}, nil
}

// everyTaint lets a node add-on run on every node whatever its taints, as kubeadm's
// kube-proxy does.
var everyTaint = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}

func kubeProxyDaemonSet(cfg Config) *appsv1.DaemonSet {
	labels := map[string]string{"k8s-app": KubeProxy}
	fieldEnv := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: KubeProxy, Namespace: metav1.NamespaceSystem, Labels: labels},
		Spec: appsv1.DaemonSetSpec{
			Selector:       &metav1.LabelSelector{MatchLabels: labels},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					HostNetwork:       true,
					DNSPolicy:         corev1.DNSClusterFirst,
					PriorityClassName: "system-node-critical",
					Tolerations:       everyTaint,
					Containers: []corev1.Container{{
						Name:            KubeProxy,
						Image:           cfg.Image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Command: []string{"/kindlike", "kube-proxy",
							"--kubeconfig", "/var/lib/kube-proxy/" + kubeconfigKey,
							"--node-name", "$(NODE_NAME)", "--node-ip", "$(NODE_IP)",
							"--service-cidr", cfg.Network.ServiceSubnet,
							"--lb-range", cfg.Network.LoadBalancerRange,
						},
						Env: []corev1.EnvVar{fieldEnv("NODE_NAME", "spec.nodeName"), fieldEnv("NODE_IP", "status.hostIP")},
						// Ready once this node's rules are written.
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intOrPort(10256)}},
							PeriodSeconds: 1, FailureThreshold: 3,
						},
						SecurityContext: &corev1.SecurityContext{
							Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}},
						},
						VolumeMounts: []corev1.VolumeMount{{Name: KubeProxy, MountPath: "/var/lib/kube-proxy", ReadOnly: true}},
					}},
					Volumes: []corev1.Volume{{Name: KubeProxy, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: KubeProxy}}}},
				},
			},
		},
	}
	return ds
}

func kubeDNSService(ip netip.Addr) *corev1.Service {
	labels := map[string]string{"k8s-app": KubeDNSService, "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: KubeDNSService, Namespace: metav1.NamespaceSystem, Labels: labels},
		Spec: corev1.ServiceSpec{
			ClusterIP: ip.String(),
			Selector:  map[string]string{"k8s-app": KubeDNSService},
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP},
			},
		},
	}
}

func coreDNSDeployment(cfg Config) *appsv1.Deployment {
	labels := map[string]string{"k8s-app": KubeDNSService}
	replicas := int32(2)
	probe := func(path string, port int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intOrPort(port)}},
			PeriodSeconds: 2, FailureThreshold: 3,
		}
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: CoreDNS, Namespace: metav1.NamespaceSystem, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					// Upstream names resolve as the node does (Docker's resolver).
					DNSPolicy:         corev1.DNSDefault,
					PriorityClassName: "system-cluster-critical",
					Tolerations: []corev1.Toleration{
						{Key: "CriticalAddonsOnly", Operator: corev1.TolerationOpExists},
						{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule},
					},
					// Two replicas on two nodes, so losing one node keeps names
					// resolving: at cluster start, the second waits for a second node
					// rather than join the first on the only node Ready yet.
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew: 1, TopologyKey: corev1.LabelHostname,
						WhenUnsatisfiable: corev1.DoNotSchedule,
						LabelSelector:     &metav1.LabelSelector{MatchLabels: labels},
					}},
					Containers: []corev1.Container{{
						Name:            CoreDNS,
						Image:           cfg.Image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Command: []string{"/kindlike", "dns",
							"--kubeconfig", "/etc/coredns/" + kubeconfigKey,
							"--cluster-domain", cfg.Network.ClusterDomain,
							"--listen", ":53", "--health", ":8080", "--ready", ":8181",
						},
						Ports: []corev1.ContainerPort{
							{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
							{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
						},
						// As kubeadm's: a minute's grace before liveness counts, so a
						// slow start on a busy machine is not killed.
						LivenessProbe:  withDelay(probe("/health", 8080), 60),
						ReadinessProbe: probe("/ready", 8181),
						VolumeMounts:   []corev1.VolumeMount{{Name: CoreDNS, MountPath: "/etc/coredns", ReadOnly: true}},
					}},
					Volumes: []corev1.Volume{{Name: CoreDNS, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: CoreDNS}}}},
				},
			},
		},
	}
	return d
}

// hashOf is the hash of what an add-on object should be.
func hashOf(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func annotate(m *metav1.ObjectMeta, hash string) {
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[hashAnnotation] = hash
}

// apply creates the object, or replaces its spec when it was made from another
// recipe; an object already as wanted is left alone (a user's scale of CoreDNS
// included).
func apply(ctx context.Context, client kubernetes.Interface, o object) error {
	switch {
	case o.secret != nil:
		_, err := client.CoreV1().Secrets(metav1.NamespaceSystem).Create(ctx, o.secret, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	case o.service != nil:
		want := o.service
		hash := hashOf(want.Spec)
		annotate(&want.ObjectMeta, hash)
		svcs := client.CoreV1().Services(metav1.NamespaceSystem)
		cur, err := svcs.Get(ctx, want.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = svcs.Create(ctx, want, metav1.CreateOptions{})
			return err
		}
		if err != nil || cur.Annotations[hashAnnotation] == hash {
			return err
		}
		if cur.Spec.ClusterIP != want.Spec.ClusterIP {
			// The address cannot change in place.
			if err := svcs.Delete(ctx, want.Name, metav1.DeleteOptions{}); err != nil {
				return err
			}
			_, err = svcs.Create(ctx, want, metav1.CreateOptions{})
			return err
		}
		cur.Spec.Ports, cur.Spec.Selector = want.Spec.Ports, want.Spec.Selector
		cur.Labels, cur.Annotations = want.Labels, want.Annotations
		_, err = svcs.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	case o.daemonSet != nil:
		want := o.daemonSet
		hash := hashOf(want.Spec)
		annotate(&want.ObjectMeta, hash)
		dss := client.AppsV1().DaemonSets(metav1.NamespaceSystem)
		cur, err := dss.Get(ctx, want.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = dss.Create(ctx, want, metav1.CreateOptions{})
			return err
		}
		if err != nil || cur.Annotations[hashAnnotation] == hash {
			return err
		}
		cur.Spec, cur.Labels, cur.Annotations = want.Spec, want.Labels, want.Annotations
		_, err = dss.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	default:
		want := o.deployment
		hash := hashOf(want.Spec)
		annotate(&want.ObjectMeta, hash)
		deps := client.AppsV1().Deployments(metav1.NamespaceSystem)
		cur, err := deps.Get(ctx, want.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = deps.Create(ctx, want, metav1.CreateOptions{})
			return err
		}
		if err != nil || cur.Annotations[hashAnnotation] == hash {
			return err
		}
		replicas := cur.Spec.Replicas
		cur.Spec, cur.Labels, cur.Annotations = want.Spec, want.Labels, want.Annotations
		cur.Spec.Replicas = replicas
		_, err = deps.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	}
}

func withDelay(p *corev1.Probe, seconds int32) *corev1.Probe {
	p.InitialDelaySeconds = seconds
	return p
}

func intOrPort(p int32) intstr.IntOrString { return intstr.FromInt32(p) }
