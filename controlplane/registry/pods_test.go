package registry

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Broken variants of the tutorial pods, with the errors kube-apiserver v1.32 gives.
func TestPodValidation(t *testing.T) {
	tests := []struct {
		name   string
		file   string // scenario to start from
		pod    string
		mutate func(p *corev1.Pod)
		want   []string
	}{
		{"image missing", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.Containers[0].Image = ""
		}, []string{"spec.containers[0].image: Required value"}},
		{"container name not a DNS label", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.Containers[1].Name = "Shell_1"
		}, []string{`spec.containers[1].name: Invalid value: "Shell_1": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`}},
		{"duplicate container names", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.Containers[1].Name = "sise"
		}, []string{`spec.containers[1].name: Duplicate value: "sise"`}},
		{"init container named like a container", "05-init-containers-pod.yaml", "myapp-demo", func(p *corev1.Pod) {
			p.Spec.InitContainers[1].Name = "myapp-container"
		}, []string{`spec.initContainers[1].name: Duplicate value: "myapp-container"`}},
		{"no containers", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.Containers = nil
		}, []string{"spec.containers: Required value"}},
		{"container port out of range", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports[0].ContainerPort = 98765
		}, []string{"spec.containers[0].ports[0].containerPort: Invalid value: 98765: must be between 1 and 65535, inclusive"}},
		{"container port protocol", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports[0].Protocol = "HTTP"
		}, []string{`spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"`}},
		{"duplicate port names and host ports", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{
				{Name: "http", ContainerPort: 80, HostPort: 8080, Protocol: corev1.ProtocolTCP},
				{Name: "http", ContainerPort: 81, HostPort: 8080, Protocol: corev1.ProtocolTCP},
			}
		}, []string{
			`spec.containers[0].ports[1].name: Duplicate value: "http"`,
			`spec.containers[0].ports[1].hostPort: Duplicate value: "TCP//8080"`,
		}},
		{"env name with '='", "06-mysql-rc-svc.yaml", "", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A=B", Value: "x"}, {Name: ""}}
		}, []string{
			`spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='`,
			"spec.containers[0].env[1].name: Required value",
		}},
		{"env valueFrom with value", "10-configmap-secret.yaml", "config-demo", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[0].Value = "en"
			p.Spec.Containers[0].Env[1].ValueFrom.SecretKeyRef.Key = ""
		}, []string{
			`spec.containers[0].env[0].valueFrom: Invalid value: "": may not be specified when ` + "`value`" + ` is not empty`,
			"spec.containers[0].env[1].valueFrom.secretKeyRef.key: Required value",
		}},
		{"envFrom without a source", "10-configmap-secret.yaml", "config-demo", func(p *corev1.Pod) {
			p.Spec.Containers[0].EnvFrom[0].ConfigMapRef = nil
		}, []string{"spec.containers[0].envFrom: Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`"}},
		{"downward API field not supported", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "PHASE", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.phase"}}}}
		}, []string{`spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "status.phase": supported values: "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"`}},
		{"volume mount of an unknown volume", "02-shared-volume-pod.yaml", "two-containers", func(p *corev1.Pod) {
			p.Spec.Containers[1].VolumeMounts[0].Name = "shared"
		}, []string{`spec.containers[1].volumeMounts[0].name: Not found: "shared"`}},
		{"mount paths must be unique", "02-shared-volume-pod.yaml", "two-containers", func(p *corev1.Pod) {
			m := p.Spec.Containers[0].VolumeMounts[0]
			p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts, m)
		}, []string{`spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/usr/share/nginx/html": must be unique`}},
		{"duplicate volume names", "02-shared-volume-pod.yaml", "two-containers", func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "shared-data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}, []string{`spec.volumes[1].name: Duplicate value: "shared-data"`}},
		{"two volume sources", "02-shared-volume-pod.yaml", "two-containers", func(p *corev1.Pod) {
			p.Spec.Volumes[0].HostPath = &corev1.HostPathVolumeSource{Path: "/data"}
		}, []string{
			"spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type",
			// A volume with errors is left out, so its mounts are not found, as in kube-apiserver.
			`spec.containers[0].volumeMounts[0].name: Not found: "shared-data"`,
			`spec.containers[1].volumeMounts[0].name: Not found: "shared-data"`,
		}},
		{"configMap volume without a name, bad mode", "10-configmap-secret.yaml", "config-demo", func(p *corev1.Pod) {
			p.Spec.Volumes[0].ConfigMap.Name = ""
			p.Spec.Volumes[0].ConfigMap.DefaultMode = ptr.To[int32](01000)
			p.Spec.Volumes[0].ConfigMap.Items = []corev1.KeyToPath{{Key: "lang", Path: "../lang"}}
		}, []string{
			"spec.volumes[0].configMap.name: Required value",
			"spec.volumes[0].configMap.defaultMode: Invalid value: 512: must be a number between 0 and 0777 (octal), both inclusive",
			`spec.volumes[0].configMap.items[0].path: Invalid value: "../lang": must not contain '..'`,
			`spec.containers[0].volumeMounts[0].name: Not found: "app-config"`,
		}},
		{"hostPath type", "02-shared-volume-pod.yaml", "two-containers", func(p *corev1.Pod) {
			p.Spec.Volumes[0] = corev1.Volume{Name: "shared-data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: "/data", Type: ptr.To(corev1.HostPathType("Folder"))}}}
		}, []string{
			`spec.volumes[0].hostPath.type: Unsupported value: "Folder": supported values: "", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"`,
			`spec.containers[0].volumeMounts[0].name: Not found: "shared-data"`,
			`spec.containers[1].volumeMounts[0].name: Not found: "shared-data"`,
		}},
		{"probe with two handlers", "03-probes-pod.yaml", "probe-demo", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe.Exec = &corev1.ExecAction{Command: []string{"true"}}
		}, []string{"spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type"}},
		{"probe without a handler", "03-probes-pod.yaml", "probe-demo", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe.HTTPGet = nil
		}, []string{"spec.containers[0].livenessProbe: Required value: must specify a handler type"}},
		{"liveness success threshold", "03-probes-pod.yaml", "probe-demo", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe.SuccessThreshold = 2
			p.Spec.Containers[0].StartupProbe.HTTPGet.Port = intstr.FromString("not_a_port")
		}, []string{
			"spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
			`spec.containers[0].startupProbe.httpGet.port: Invalid value: "not_a_port": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`,
		}},
		{"lifecycle hook without a handler", "04-lifecycle-pod.yaml", "lifecycle-demo", func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle.PreStop.Exec = nil
		}, []string{"spec.containers[0].lifecycle.preStop: Required value: must specify a handler type"}},
		{"probe on an init container", "05-init-containers-pod.yaml", "myapp-demo", func(p *corev1.Pod) {
			p.Spec.InitContainers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
		}, []string{"spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always"}},
		{"request above limit", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
			}
		}, []string{`spec.containers[0].resources.requests: Invalid value: "1": must be less than or equal to cpu limit of 500m`}},
		{"unknown container resource", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{"gpu": resource.MustParse("1")}
		}, []string{
			// A resource name prints through its String method, unquoted.
			`spec.containers[0].resources.requests[gpu]: Invalid value: gpu: must be a standard resource type or fully qualified`,
			`spec.containers[0].resources.requests[gpu]: Invalid value: gpu: must be a standard resource for containers`,
		}},
		{"restart policy", "02-shared-volume-pod.yaml", "two-containers", func(p *corev1.Pod) {
			p.Spec.RestartPolicy = "Sometimes"
		}, []string{`spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`}},
		{"dns policy", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.DNSPolicy = "Cluster"
		}, []string{`spec.dnsPolicy: Unsupported value: "Cluster": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"`}},
		{"dns policy None needs a config", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.DNSPolicy = corev1.DNSNone
		}, []string{"spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"}},
		{"toleration without key", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpEqual, Value: "x", Effect: "NoRun"}}
		}, []string{
			"spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
			`spec.tolerations[0].effect: Unsupported value: "NoRun": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`,
		}},
		{"node selector and node name", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"disk type": "ssd"}
			p.Spec.NodeName = "Worker_1"
		}, []string{
			`spec.nodeSelector: Invalid value: "disk type": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
			`spec.nodeName: Invalid value: "Worker_1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
		}},
		{"activeDeadlineSeconds", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.ActiveDeadlineSeconds = ptr.To[int64](0)
		}, []string{"spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"}},
		{"image with trailing space", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.Containers[1].Image = "centos:7 "
		}, []string{`spec.containers[1].image: Invalid value: "centos:7 ": must not have leading or trailing whitespace`}},
		{"host network ports", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports[0].HostPort = 80
		}, []string{"spec.containers[0].ports[0].hostPort: Invalid value: 80: must match `containerPort` when `hostNetwork` is true"}},
		{"scheduling gates with a node", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
			p.Spec.NodeName = "worker"
		}, []string{"spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared"}},
		{"affinity", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{
				NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}},
				PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				}}},
			}
		}, []string{
			"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: Required value: must have at least one node selector term",
			"spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Required value: can not be empty",
			`spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Invalid value: "": name part must be non-empty`,
			`spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Invalid value: "": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
		}},
		{"topology spread", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 0, TopologyKey: "zone", WhenUnsatisfiable: "Maybe"}}
		}, []string{
			"spec.topologySpreadConstraints[0].maxSkew: Invalid value: 0: must be greater than zero",
			`spec.topologySpreadConstraints[0].whenUnsatisfiable: Unsupported value: "Maybe": supported values: "DoNotSchedule", "ScheduleAnyway"`,
		}},
		{"ephemeral containers on create", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePolicy: corev1.TerminationMessageReadFile}}}
		}, []string{"spec.ephemeralContainers: Forbidden: cannot be set on create"}},
		{"bad finalizer", "01-twocontainers-pod.yaml", "twocontainers", func(p *corev1.Pod) {
			p.Finalizers = []string{"cleanup"}
		}, []string{`metadata.finalizers[0]: Invalid value: "cleanup": name is neither a standard finalizer name nor is it fully qualified`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pod *corev1.Pod
			if tt.pod == "" {
				// A pod of the RC's template.
				rc := scenarioObject[*corev1.ReplicationController](t, tt.file, "mysql")
				pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "mysql-abcde"}, Spec: rc.Spec.Template.Spec}
			} else {
				pod = scenarioObject[*corev1.Pod](t, tt.file, tt.pod)
			}
			Pods.Strategy.Default(pod)
			tt.mutate(pod)
			checkErrors(t, createObject(t, Pods, pod), tt.want)
		})
	}
}

func TestPodUpdate(t *testing.T) {
	created := func(t *testing.T) *corev1.Pod {
		pod := scenarioObject[*corev1.Pod](t, "01-twocontainers-pod.yaml", "twocontainers")
		if errs := createObject(t, Pods, pod); len(errs) > 0 {
			t.Fatal(errs)
		}
		return pod
	}
	updatable := strings.Join(updatablePodSpecFields, ",")
	tests := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   []string
		prefix bool // want[last] is only the start of the message (a diff follows)
	}{
		{"new image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "quay.io/openshiftlabs/simple-service:0.6.0" }, nil, false},
		{"deadline set, then shortened", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](60) }, nil, false},
		{"toleration added", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
		}, nil, false},
		{"container removed", func(p *corev1.Pod) { p.Spec.Containers = p.Spec.Containers[:1] },
			[]string{"spec.containers: Forbidden: pod updates may not add or remove containers"}, false},
		{"image cleared", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" },
			[]string{"spec.containers[0].image: Required value", "spec.containers[0].image: Required value"}, false},
		{"restart policy changed", func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever },
			[]string{"spec: Forbidden: pod updates may not change fields other than " + updatable + "\n"}, true},
		{"command changed", func(p *corev1.Pod) { p.Spec.Containers[1].Command = []string{"sleep", "1"} },
			[]string{"spec: Forbidden: pod updates may not change fields other than " + updatable + "\n"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := created(t)
			pod := old.DeepCopy()
			tt.mutate(pod)
			got := errorStrings(updateObject(t, Pods, pod, old))
			if tt.prefix && len(got) == len(tt.want) {
				last := len(got) - 1
				if !strings.HasPrefix(got[last], tt.want[last]) {
					t.Errorf("error %q does not start with %q", got[last], tt.want[last])
				}
				got[last] = tt.want[last]
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}

	// A deadline may only shrink, and not go away.
	old := created(t)
	old.Spec.ActiveDeadlineSeconds = ptr.To[int64](60)
	longer := old.DeepCopy()
	longer.Spec.ActiveDeadlineSeconds = ptr.To[int64](120)
	checkErrors(t, updateObject(t, Pods, longer, old), []string{"spec.activeDeadlineSeconds: Invalid value: 120: must be less than or equal to previous value"})
	removed := old.DeepCopy()
	removed.Spec.ActiveDeadlineSeconds = nil
	checkErrors(t, updateObject(t, Pods, removed, old), []string{`spec.activeDeadlineSeconds: Invalid value: "null": must not update from a positive integer to nil value`})

	// Tolerations may be added, not changed.
	old = created(t)
	old.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}}
	shorter := old.DeepCopy()
	shorter.Spec.Tolerations[0].TolerationSeconds = ptr.To[int64](30)
	checkErrors(t, updateObject(t, Pods, shorter, old), nil)
	changed := old.DeepCopy()
	changed.Spec.Tolerations[0].Key = "other"
	checkErrors(t, updateObject(t, Pods, changed, old), []string{"spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"})

	// Scheduling gates may only be removed.
	old = created(t)
	old.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}}
	added := old.DeepCopy()
	added.Spec.SchedulingGates = append(added.Spec.SchedulingGates, corev1.PodSchedulingGate{Name: "example.com/b"})
	checkErrors(t, updateObject(t, Pods, added, old), []string{"spec.schedulingGates[1].name: Forbidden: only deletion is allowed, but found new scheduling gate 'example.com/b'"})
	cleared := old.DeepCopy()
	cleared.Spec.SchedulingGates = nil
	checkErrors(t, updateObject(t, Pods, cleared, old), nil)

	// An update of the main resource cannot change the status.
	old = created(t)
	withStatus := old.DeepCopy()
	withStatus.Status.Phase = corev1.PodRunning
	if errs := updateObject(t, Pods, withStatus, old); len(errs) > 0 || withStatus.Status.Phase != corev1.PodPending {
		t.Errorf("status changed through the main resource: %v %s", errs, withStatus.Status.Phase)
	}
}

func TestPodCreateResetsStatus(t *testing.T) {
	pod := scenarioObject[*corev1.Pod](t, "01-twocontainers-pod.yaml", "twocontainers")
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.9", HostIP: "172.18.0.2"}
	pod.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
	if errs := createObject(t, Pods, pod); len(errs) > 0 {
		t.Fatal(errs)
	}
	want := corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort, Conditions: []corev1.PodCondition{{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated,
		Message: "Scheduling is blocked due to non-empty scheduling gates", LastTransitionTime: fixedNow,
	}}}
	if diff := cmp.Diff(want, pod.Status); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}

func TestPodStatusUpdate(t *testing.T) {
	created := func(t *testing.T, restart corev1.RestartPolicy) *corev1.Pod {
		pod := scenarioObject[*corev1.Pod](t, "01-twocontainers-pod.yaml", "twocontainers")
		pod.Spec.RestartPolicy = restart
		if errs := createObject(t, Pods, pod); len(errs) > 0 {
			t.Fatal(errs)
		}
		return pod
	}
	// What a node agent posts for a running pod.
	old := created(t, corev1.RestartPolicyAlways)
	running := old.DeepCopy()
	running.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.1.7", HostIP: "172.18.0.3",
		HostIPs: []corev1.HostIP{{IP: "172.18.0.3"}}}
	checkErrors(t, updateStatus(t, Pods, running, old), nil)
	if running.Status.QOSClass != corev1.PodQOSBestEffort || running.Status.PodIPs[0].IP != "10.244.1.7" {
		t.Errorf("status after update: %+v", running.Status)
	}
	// The status subresource cannot move the pod.
	moved := old.DeepCopy()
	moved.Spec.NodeName = "elsewhere"
	checkErrors(t, updateStatus(t, Pods, moved, old), nil)
	if moved.Spec.NodeName != "" {
		t.Errorf("status update changed spec.nodeName to %q", moved.Spec.NodeName)
	}

	bad := old.DeepCopy()
	bad.Status = corev1.PodStatus{QOSClass: corev1.PodQOSGuaranteed, PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}},
		HostIP: "172.18.0.3", HostIPs: []corev1.HostIP{{IP: "172.18.0.4"}}}
	checkErrors(t, updateStatus(t, Pods, bad, old), []string{
		`status.qosClass: Invalid value: "Guaranteed": field is immutable`,
		`status.podIPs: Invalid value: []v1.PodIP{v1.PodIP{IP:"10.0.0.1"}, v1.PodIP{IP:"10.0.0.2"}}: may specify no more than one IP for each IP family`,
		`status.hostIPs[0].ip: Invalid value: "172.18.0.4": must be equal to ` + "`hostIP`",
	})

	// A finished container of a Never pod stays finished.
	old = created(t, corev1.RestartPolicyNever)
	old.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "sise", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}}
	restarted := old.DeepCopy()
	restarted.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	checkErrors(t, updateStatus(t, Pods, restarted, old), []string{"status.containerStatuses[0].state: Forbidden: may not be transitioned to non-terminated state"})
}

func TestPodFields(t *testing.T) {
	pod := scenarioObject[*corev1.Pod](t, "01-twocontainers-pod.yaml", "twocontainers")
	createObject(t, Pods, pod)
	pod.Spec.NodeName = "kindlike-worker"
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.7"}}
	want := fields.Set{
		"spec.nodeName": "kindlike-worker", "spec.restartPolicy": "Always", "spec.schedulerName": "default-scheduler",
		"spec.serviceAccountName": "", "spec.hostNetwork": "false", "status.phase": "Pending",
		"status.podIP": "10.244.1.7", "status.nominatedNodeName": "",
	}
	if diff := cmp.Diff(want, Pods.Strategy.Fields(pod)); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestValidateBinding(t *testing.T) {
	checkErrors(t, ValidateBinding(&corev1.Binding{Target: corev1.ObjectReference{Kind: "Node", Name: "kindlike-worker"}}), nil)
	checkErrors(t, ValidateBinding(&corev1.Binding{Target: corev1.ObjectReference{Kind: "Pod"}}), []string{
		`target.kind: Unsupported value: "Pod": supported values: "Node", "<empty>"`,
		"target.name: Required value",
	})
}

// An affinity term's matchLabelKeys and mismatchLabelKeys become selector expressions on
// the pod's own label values at creation, in every kind of term.
func TestPodMatchLabelKeys(t *testing.T) {
	term := func() corev1.PodAffinityTerm {
		return corev1.PodAffinityTerm{
			LabelSelector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			TopologyKey:       "kubernetes.io/hostname",
			MatchLabelKeys:    []string{"pod-template-hash"},
			MismatchLabelKeys: []string{"tenant"},
		}
	}
	pod := scenarioObject[*corev1.Pod](t, "01-twocontainers-pod.yaml", "twocontainers")
	pod.Labels = map[string]string{"app": "web", "pod-template-hash": "abc", "tenant": "t1"}
	pod.Spec.Affinity = &corev1.Affinity{
		PodAffinity: &corev1.PodAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution:  []corev1.PodAffinityTerm{term()},
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 1, PodAffinityTerm: term()}},
		},
		PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution:  []corev1.PodAffinityTerm{term()},
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 1, PodAffinityTerm: term()}},
		},
	}
	if errs := createObject(t, Pods, pod); len(errs) != 0 {
		t.Fatalf("create: %v", errs.ToAggregate())
	}
	want := []metav1.LabelSelectorRequirement{
		{Key: "pod-template-hash", Operator: metav1.LabelSelectorOpIn, Values: []string{"abc"}},
		{Key: "tenant", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"t1"}},
	}
	a := pod.Spec.Affinity
	for name, got := range map[string]*corev1.PodAffinityTerm{
		"affinity required":       &a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0],
		"affinity preferred":      &a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm,
		"anti-affinity required":  &a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0],
		"anti-affinity preferred": &a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm,
	} {
		if diff := cmp.Diff(want, got.LabelSelector.MatchExpressions); diff != "" {
			t.Errorf("%s: expressions (-want +got):\n%s", name, diff)
		}
	}
}
