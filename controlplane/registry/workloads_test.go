package registry

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestReplicationControllerValidation(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(rc *corev1.ReplicationController)
		want   []string
	}{
		{"selector does not match", func(rc *corev1.ReplicationController) {
			rc.Spec.Selector = map[string]string{"app": "web"}
		}, []string{"spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"mysql\"}: `selector` does not match template `labels`"}},
		{"negative replicas", func(rc *corev1.ReplicationController) {
			rc.Spec.Replicas = ptr.To[int32](-1)
		}, []string{"spec.replicas: Invalid value: -1: must be greater than or equal to 0"}},
		{"restart policy", func(rc *corev1.ReplicationController) {
			rc.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		}, []string{`spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: "Always"`}},
		{"no template", func(rc *corev1.ReplicationController) {
			rc.Spec.Template = nil
		}, []string{"spec.template: Required value"}},
		{"template container", func(rc *corev1.ReplicationController) {
			rc.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort = 0
			rc.Spec.Template.Labels["bad key!"] = "x"
		}, []string{
			`spec.template.labels: Invalid value: "bad key!": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
			"spec.template.spec.containers[0].ports[0].containerPort: Required value",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := scenarioObject[*corev1.ReplicationController](t, "06-mysql-rc-svc.yaml", "mysql")
			ReplicationControllers.Strategy.Default(rc)
			tt.mutate(rc)
			checkErrors(t, createObject(t, ReplicationControllers, rc), tt.want)
		})
	}

	// Without a selector, the template's labels are used, and must exist.
	rc := scenarioObject[*corev1.ReplicationController](t, "06-mysql-rc-svc.yaml", "mysql")
	rc.Spec.Selector = nil
	rc.Spec.Template.Labels = nil
	checkErrors(t, createObject(t, ReplicationControllers, rc), []string{"spec.selector: Required value"})

	// Scaling and status.
	old := scenarioObject[*corev1.ReplicationController](t, "07-myweb-rc-nodeport.yaml", "myweb")
	createObject(t, ReplicationControllers, old)
	scaled := old.DeepCopy()
	scaled.Spec.Replicas = ptr.To[int32](2)
	checkErrors(t, updateObject(t, ReplicationControllers, scaled, old), nil)
	status := old.DeepCopy()
	status.Status = corev1.ReplicationControllerStatus{Replicas: 2, ReadyReplicas: 3, AvailableReplicas: 1}
	checkErrors(t, updateStatus(t, ReplicationControllers, status, old), []string{
		"status.readyReplicas: Invalid value: 3: cannot be greater than status.replicas",
	})
}

func TestDeploymentValidation(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(d *appsv1.Deployment)
		want   []string
	}{
		{"selector does not match template", func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchLabels = map[string]string{"app": "web"}
		}, []string{"spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"nginx\", \"version\":\"v1\"}: `selector` does not match template `labels`"}},
		// A missing selector selects nothing, so it does not match the template either.
		{"no selector", func(d *appsv1.Deployment) {
			d.Spec.Selector = nil
		}, []string{
			"spec.selector: Required value",
			"spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"nginx\", \"version\":\"v1\"}: `selector` does not match template `labels`",
		}},
		{"empty selector", func(d *appsv1.Deployment) {
			d.Spec.Selector = &metav1.LabelSelector{}
		}, []string{"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"}},
		{"bad selector operator", func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Within", Values: []string{"web"}}}
		}, []string{
			`spec.selector.matchExpressions[0].operator: Invalid value: "Within": not a valid selector operator`,
			`spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"nginx"}, MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"tier", Operator:"Within", Values:[]string{"web"}}}}: invalid label selector`,
		}},
		{"negative replicas", func(d *appsv1.Deployment) {
			d.Spec.Replicas = ptr.To[int32](-3)
		}, []string{"spec.replicas: Invalid value: -3: must be greater than or equal to 0"}},
		{"unknown strategy", func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: "BlueGreen"}
		}, []string{`spec.strategy: Unsupported value: v1.DeploymentStrategy{Type:"BlueGreen", RollingUpdate:(*v1.RollingUpdateDeployment)(nil)}: supported values: "Recreate", "RollingUpdate"`}},
		{"recreate with rolling update", func(d *appsv1.Deployment) {
			d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
		}, []string{"spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"}},
		{"rolling update of nothing", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(0))
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("0%"))
		}, []string{"spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"0%\"}: may not be 0 when `maxSurge` is 0"}},
		{"more than 100%", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("150%"))
		}, []string{`spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"150%"}: must not be greater than 100%`}},
		{"progress deadline", func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 600
		}, []string{"spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds"}},
		{"template restart policy and deadline", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
			d.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To[int64](30)
		}, []string{
			`spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"`,
			"spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported",
		}},
		{"template image", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Image = ""
		}, []string{"spec.template.spec.containers[0].image: Required value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := scenarioObject[*appsv1.Deployment](t, "08-nginx-deployment.yaml", "nginx-deployment-demo")
			Deployments.Strategy.Default(d)
			tt.mutate(d)
			checkErrors(t, createObject(t, Deployments, d), tt.want)
		})
	}

	// kubectl set image, then a status the deployment controller posts.
	old := scenarioObject[*appsv1.Deployment](t, "08-nginx-deployment.yaml", "nginx-deployment-demo")
	createObject(t, Deployments, old)
	newImage := old.DeepCopy()
	newImage.Spec.Template.Spec.Containers[0].Image = "nginx:1.19"
	checkErrors(t, updateObject(t, Deployments, newImage, old), nil)
	status := old.DeepCopy()
	status.Status = appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 3, CollisionCount: ptr.To[int32](0)}
	old.Status.CollisionCount = ptr.To[int32](1)
	checkErrors(t, updateStatus(t, Deployments, status, old), []string{
		"status.availableReplicas: Invalid value: 3: cannot be greater than readyReplicas",
		"status.collisionCount: Invalid value: 0: cannot be decremented",
	})
}

func TestReplicaSetValidation(t *testing.T) {
	rs := decodeYAML[*appsv1.ReplicaSet](t, `
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: frontend}
spec:
  replicas: 3
  selector:
    matchLabels: {tier: frontend}
  template:
    metadata:
      labels: {tier: backend}
    spec:
      containers:
      - name: php-redis
        image: us-docker.pkg.dev/google-samples/containers/gke/gb-frontend:v5
`)
	checkErrors(t, createObject(t, ReplicaSets, rs), []string{
		"spec.template.metadata.labels: Invalid value: map[string]string{\"tier\":\"backend\"}: `selector` does not match template `labels`",
	})
	rs.Spec.Template.Labels["tier"] = "frontend"
	checkErrors(t, createObject(t, ReplicaSets, rs), nil)
	if got := ReplicaSets.Strategy.Fields(rs)["status.replicas"]; got != "0" {
		t.Errorf("status.replicas field %q", got)
	}
}

func TestStatefulSetValidation(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(ss *appsv1.StatefulSet)
		want   []string
	}{
		{"selector does not match", func(ss *appsv1.StatefulSet) {
			ss.Spec.Selector.MatchLabels["app"] = "web"
		}, []string{"spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"nginx\"}: `selector` does not match template `labels`"}},
		{"pod management policy", func(ss *appsv1.StatefulSet) {
			ss.Spec.PodManagementPolicy = "Random"
		}, []string{`spec.podManagementPolicy: Invalid value: "Random": must be 'OrderedReady' or 'Parallel'`}},
		{"retention policy", func(ss *appsv1.StatefulSet) {
			ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = "Keep"
		}, []string{`spec.persistentVolumeClaimRetentionPolicy.whenScaled: Unsupported value: "Keep": supported values: "Retain", "Delete"`}},
		{"on delete with rolling update", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
		}, []string{"spec.updateStrategy.rollingUpdate: Invalid value: v1.RollingUpdateStatefulSetStrategy{Partition:(*int32)(0xPTR), MaxUnavailable:(*intstr.IntOrString)(nil)}: only allowed for updateStrategy 'RollingUpdate'"}},
		{"negative partition", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](-1)
		}, []string{"spec.updateStrategy.rollingUpdate.partition: Invalid value: -1: must be greater than or equal to 0"}},
		// kube-apiserver v1.32 checks the template's labels, not its pod spec.
		{"pod spec is not checked", func(ss *appsv1.StatefulSet) {
			ss.Spec.Template.Spec.Containers[0].Image = ""
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss := scenarioObject[*appsv1.StatefulSet](t, "09-web-statefulset.yaml", "web-demo")
			StatefulSets.Strategy.Default(ss)
			tt.mutate(ss)
			got := errorStrings(createObject(t, StatefulSets, ss))
			for i := range got {
				got[i] = maskPointers(got[i])
			}
			if len(got) != len(tt.want) {
				t.Fatalf("errors %q, want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("error %d:\n got %s\nwant %s", i, got[i], tt.want[i])
				}
			}
		})
	}

	// A name that is a subdomain but not a label is refused by the server's metadata check.
	ss := scenarioObject[*appsv1.StatefulSet](t, "09-web-statefulset.yaml", "web-demo")
	ss.Name = "web.demo"
	checkErrors(t, createObject(t, StatefulSets, ss), []string{
		`metadata.name: Invalid value: "web.demo": must not contain dots`,
	})
}

func TestStatefulSetUpdate(t *testing.T) {
	created := func(t *testing.T) *appsv1.StatefulSet {
		ss := scenarioObject[*appsv1.StatefulSet](t, "09-web-statefulset.yaml", "web-demo")
		if errs := createObject(t, StatefulSets, ss); len(errs) > 0 {
			t.Fatal(errs)
		}
		return ss
	}
	forbidden := "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
	tests := []struct {
		name   string
		mutate func(ss *appsv1.StatefulSet)
		want   []string
	}{
		{"scale", func(ss *appsv1.StatefulSet) { ss.Spec.Replicas = ptr.To[int32](5) }, nil},
		{"new image", func(ss *appsv1.StatefulSet) { ss.Spec.Template.Spec.Containers[0].Image = "nginx:1.20" }, nil},
		{"service name", func(ss *appsv1.StatefulSet) { ss.Spec.ServiceName = "web" }, []string{forbidden}},
		{"claim templates", func(ss *appsv1.StatefulSet) { ss.Spec.VolumeClaimTemplates = nil }, []string{forbidden}},
		{"pod management", func(ss *appsv1.StatefulSet) { ss.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }, []string{forbidden}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := created(t)
			ss := old.DeepCopy()
			tt.mutate(ss)
			checkErrors(t, updateObject(t, StatefulSets, ss, old), tt.want)
		})
	}
	old := created(t)
	status := old.DeepCopy()
	status.Status = appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 1, AvailableReplicas: 2, CurrentReplicas: 3}
	checkErrors(t, updateStatus(t, StatefulSets, status, old), []string{
		"status.currentReplicas: Invalid value: 3: cannot be greater than status.replicas",
		"status.availableReplicas: Invalid value: 2: cannot be greater than status.readyReplicas",
	})
}

func TestDaemonSetValidation(t *testing.T) {
	base := `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: fluentd, namespace: kube-system}
spec:
  selector:
    matchLabels: {name: fluentd}
  template:
    metadata:
      labels: {name: fluentd}
    spec:
      tolerations:
      - key: node-role.kubernetes.io/control-plane
        operator: Exists
        effect: NoSchedule
      containers:
      - name: fluentd
        image: quay.io/fluentd_elasticsearch/fluentd:v2.5.2
`
	tests := []struct {
		name   string
		mutate func(ds *appsv1.DaemonSet)
		want   []string
	}{
		{"valid", func(ds *appsv1.DaemonSet) {}, nil},
		{"selector does not match", func(ds *appsv1.DaemonSet) {
			ds.Spec.Selector.MatchLabels["name"] = "other"
		}, []string{"spec.template.metadata.labels: Invalid value: map[string]string{\"name\":\"fluentd\"}: `selector` does not match template `labels`"}},
		{"surge and unavailable", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromInt32(1))
		}, []string{`spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:0, IntVal:1, StrVal:""}: may not be set when maxUnavailable is non-zero`}},
		{"neither surge nor unavailable", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(0))
		}, []string{"spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"}},
		{"restart policy", func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		}, []string{`spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: "Always"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := decodeYAML[*appsv1.DaemonSet](t, base)
			DaemonSets.Strategy.Default(ds)
			tt.mutate(ds)
			checkErrors(t, createObject(t, DaemonSets, ds), tt.want)
		})
	}
}

func TestControllerRevisionValidation(t *testing.T) {
	cr := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "web-demo-7b9c8d"}, Revision: 1,
		Data: runtime.RawExtension{Raw: []byte(`{"spec":{"template":{}}}`)}}
	checkErrors(t, createObject(t, ControllerRevisions, cr.DeepCopy()), nil)
	list := cr.DeepCopy()
	list.Data.Raw = []byte(`[1]`)
	checkErrors(t, createObject(t, ControllerRevisions, list), []string{"data: Required value: data must be a valid JSON object"})
	changed := cr.DeepCopy()
	changed.Data.Raw = []byte(`{"spec":{}}`)
	checkErrors(t, updateObject(t, ControllerRevisions, changed, cr), []string{
		`data: Invalid value: runtime.RawExtension{Raw:[]uint8{0x7b, 0x22, 0x73, 0x70, 0x65, 0x63, 0x22, 0x3a, 0x7b, 0x7d, 0x7d}, Object:runtime.Object(nil)}: field is immutable`,
	})
}
