package registry

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// What the tutorial manifests look like once created: what `kubectl get -o yaml` shows
// on a v1.32 cluster (before controllers touch them; cluster IPs are the allocator's).
func TestScenarioDefaults(t *testing.T) {
	tests := []struct {
		file, name string
		// want is the created object, as YAML; only its spec and status are compared
		// (and labels, where defaulting sets them).
		want string
	}{
		{"01-twocontainers-pod.yaml", "twocontainers", `
apiVersion: v1
kind: Pod
metadata:
  labels: {app: twocontainers}
spec:
  containers:
  - image: quay.io/openshiftlabs/simple-service:0.5.0
    imagePullPolicy: IfNotPresent
    name: sise
    ports:
    - containerPort: 9876
      protocol: TCP
    resources: {}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
  - command: [bin/bash, -c, sleep 10000]
    image: centos:7
    imagePullPolicy: IfNotPresent
    name: shell
    resources: {}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  restartPolicy: Always
  schedulerName: default-scheduler
  securityContext: {}
  terminationGracePeriodSeconds: 30
status:
  phase: Pending
  qosClass: BestEffort
`},
		{"03-probes-pod.yaml", "probe-demo", `
apiVersion: v1
kind: Pod
spec:
  containers:
  - image: quay.io/openshiftlabs/simple-service:0.5.0
    imagePullPolicy: IfNotPresent
    livenessProbe:
      failureThreshold: 3
      httpGet: {path: /health, port: 9876, scheme: HTTP}
      periodSeconds: 5
      successThreshold: 1
      timeoutSeconds: 1
    name: sise
    ports:
    - {containerPort: 9876, protocol: TCP}
    readinessProbe:
      failureThreshold: 3
      periodSeconds: 10
      successThreshold: 1
      tcpSocket: {port: 9876}
      timeoutSeconds: 1
    resources: {}
    startupProbe:
      failureThreshold: 3
      httpGet: {path: /health, port: 9876, scheme: HTTP}
      periodSeconds: 2
      successThreshold: 1
      timeoutSeconds: 1
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  restartPolicy: Always
  schedulerName: default-scheduler
  securityContext: {}
  terminationGracePeriodSeconds: 30
status: {phase: Pending, qosClass: BestEffort}
`},
		{"02-shared-volume-pod.yaml", "two-containers", `
apiVersion: v1
kind: Pod
spec:
  containers:
  - image: nginx
    imagePullPolicy: Always
    name: nginx-container
    resources: {}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
    volumeMounts: [{mountPath: /usr/share/nginx/html, name: shared-data}]
  - args: [-c, echo Hello from the debian container > /pod-data/index.html]
    command: [/bin/sh]
    image: debian
    imagePullPolicy: Always
    name: debian-container
    resources: {}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
    volumeMounts: [{mountPath: /pod-data, name: shared-data}]
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  restartPolicy: Never
  schedulerName: default-scheduler
  securityContext: {}
  terminationGracePeriodSeconds: 30
  volumes: [{emptyDir: {}, name: shared-data}]
status: {phase: Pending, qosClass: BestEffort}
`},
		{"06-mysql-rc-svc.yaml", "mysql", `
apiVersion: v1
kind: ReplicationController
metadata:
  labels: {app: mysql}
spec:
  replicas: 1
  selector: {app: mysql}
  template:
    metadata:
      labels: {app: mysql}
    spec:
      containers:
      - env: [{name: MYSQL_ROOT_PASSWORD, value: "123456"}]
        image: mysql
        imagePullPolicy: Always
        name: mysql
        ports: [{containerPort: 3306, protocol: TCP}]
        resources: {}
        terminationMessagePath: /dev/termination-log
        terminationMessagePolicy: File
      dnsPolicy: ClusterFirst
      restartPolicy: Always
      schedulerName: default-scheduler
      securityContext: {}
      terminationGracePeriodSeconds: 30
status: {replicas: 0}
`},
		{"06-mysql-rc-svc.yaml", "mysql", `
apiVersion: v1
kind: Service
spec:
  internalTrafficPolicy: Cluster
  ipFamilies: [IPv4]
  ipFamilyPolicy: SingleStack
  ports: [{port: 3306, protocol: TCP, targetPort: 3306}]
  selector: {app: mysql}
  sessionAffinity: None
  type: ClusterIP
`},
		{"07-myweb-rc-nodeport.yaml", "myweb", `
apiVersion: v1
kind: Service
spec:
  externalTrafficPolicy: Cluster
  internalTrafficPolicy: Cluster
  ipFamilies: [IPv4]
  ipFamilyPolicy: SingleStack
  ports: [{nodePort: 30001, port: 8080, protocol: TCP, targetPort: 8080}]
  selector: {app: myweb}
  sessionAffinity: None
  type: NodePort
`},
		{"08-nginx-deployment.yaml", "nginx-deployment-demo", `
apiVersion: apps/v1
kind: Deployment
metadata:
  labels: {app: nginx}
spec:
  progressDeadlineSeconds: 600
  replicas: 3
  revisionHistoryLimit: 10
  selector:
    matchLabels: {app: nginx}
  strategy:
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}
    type: RollingUpdate
  template:
    metadata:
      labels: {app: nginx, version: v1}
    spec:
      containers:
      - image: nginx:1.14.2
        imagePullPolicy: IfNotPresent
        name: nginx
        ports: [{containerPort: 80, protocol: TCP}]
        resources: {}
        terminationMessagePath: /dev/termination-log
        terminationMessagePolicy: File
      dnsPolicy: ClusterFirst
      restartPolicy: Always
      schedulerName: default-scheduler
      securityContext: {}
      terminationGracePeriodSeconds: 30
`},
		{"09-web-statefulset.yaml", "nginx-demo", `
apiVersion: v1
kind: Service
metadata:
  labels: {app: nginx}
spec:
  clusterIP: None
  clusterIPs: [None]
  internalTrafficPolicy: Cluster
  ipFamilies: [IPv4]
  ipFamilyPolicy: SingleStack
  ports: [{name: web, port: 80, protocol: TCP, targetPort: 80}]
  selector: {app: nginx}
  sessionAffinity: None
  type: ClusterIP
`},
		{"09-web-statefulset.yaml", "web-demo", `
apiVersion: apps/v1
kind: StatefulSet
spec:
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Retain, whenScaled: Retain}
  podManagementPolicy: OrderedReady
  replicas: 2
  revisionHistoryLimit: 10
  selector:
    matchLabels: {app: nginx}
  serviceName: nginx-demo
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
      - image: nginx:1.19
        imagePullPolicy: IfNotPresent
        name: nginx
        ports: [{containerPort: 80, name: web, protocol: TCP}]
        resources: {}
        terminationMessagePath: /dev/termination-log
        terminationMessagePolicy: File
        volumeMounts: [{mountPath: /usr/share/nginx/html, name: www}]
      dnsPolicy: ClusterFirst
      restartPolicy: Always
      schedulerName: default-scheduler
      securityContext: {}
      terminationGracePeriodSeconds: 30
  updateStrategy:
    rollingUpdate: {partition: 0}
    type: RollingUpdate
  volumeClaimTemplates:
  - metadata: {name: www}
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests: {storage: 1Gi}
      volumeMode: Filesystem
    status: {phase: Pending}
status: {availableReplicas: 0, replicas: 0}
`},
		{"10-configmap-secret.yaml", "db-secret", `
apiVersion: v1
kind: Secret
data: {password: czNjcjN0}
type: Opaque
`},
		{"10-configmap-secret.yaml", "config-demo", `
apiVersion: v1
kind: Pod
spec:
  containers:
  - command: [sh, -c, 'echo lang=$LANG_SETTING password=$DB_PASSWORD; cat /etc/app/app.properties; sleep 3600']
    env:
    - name: LANG_SETTING
      valueFrom:
        configMapKeyRef: {key: lang, name: cm-demo-mix}
    - name: DB_PASSWORD
      valueFrom:
        secretKeyRef: {key: password, name: db-secret}
    envFrom:
    - configMapRef: {name: cm-demo-mix}
      prefix: CM_
    image: busybox:1.31
    imagePullPolicy: IfNotPresent
    name: show
    resources: {}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
    volumeMounts: [{mountPath: /etc/app, name: app-config}]
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  restartPolicy: Never
  schedulerName: default-scheduler
  securityContext: {}
  terminationGracePeriodSeconds: 30
  volumes:
  - configMap: {defaultMode: 420, name: cm-demo-mix}
    name: app-config
status: {phase: Pending, qosClass: BestEffort}
`},
		{"11-static-pv-pvc.yaml", "task-pv-volume", `
apiVersion: v1
kind: PersistentVolume
spec:
  accessModes: [ReadWriteOnce]
  capacity: {storage: 10Gi}
  hostPath: {path: /mnt/data, type: ""}
  persistentVolumeReclaimPolicy: Retain
  storageClassName: manual
  volumeMode: Filesystem
status:
  lastPhaseTransitionTime: "2025-01-02T03:04:05Z"
  phase: Pending
`},
		{"11-static-pv-pvc.yaml", "task-pv-claim", `
apiVersion: v1
kind: PersistentVolumeClaim
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests: {storage: 3Gi}
  storageClassName: manual
  volumeMode: Filesystem
status: {phase: Pending}
`},
	}
	for _, tt := range tests {
		want := decodeYAML[runtime.Object](t, tt.want)
		kind := want.GetObjectKind().GroupVersionKind().Kind
		t.Run(tt.file+"/"+kind+"/"+tt.name, func(t *testing.T) {
			var got runtime.Object
			for _, obj := range decodeFile(t, "testdata/scenarios/"+tt.file) {
				if obj.GetObjectKind().GroupVersionKind().Kind == kind && objectMeta(t, obj).Name == tt.name {
					got = obj
				}
			}
			if got == nil {
				t.Fatalf("no %s %s", kind, tt.name)
			}
			if errs := createObject(t, resourceFor(t, got), got); len(errs) > 0 {
				t.Fatalf("create: %v", errs.ToAggregate())
			}
			// Compare what defaulting owns; the rest of metadata is the server's.
			gotMeta, wantMeta := objectMeta(t, got), objectMeta(t, want)
			if wantMeta.Labels != nil {
				if diff := cmp.Diff(wantMeta.Labels, gotMeta.Labels); diff != "" {
					t.Errorf("labels (-want +got):\n%s", diff)
				}
			}
			*wantMeta = *gotMeta
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("created object (-want +got):\n%s", diff)
			}
		})
	}
}

func TestImagePullPolicyDefault(t *testing.T) {
	for image, want := range map[string]corev1.PullPolicy{
		"nginx":                     corev1.PullAlways,
		"nginx:latest":              corev1.PullAlways,
		"docker.io/library/nginx":   corev1.PullAlways,
		"localhost:5000/app":        corev1.PullAlways,
		"localhost:5000/app:latest": corev1.PullAlways,
		"nginx:1.19":                corev1.PullIfNotPresent,
		"localhost:5000/app:v2":     corev1.PullIfNotPresent,
		"nginx@sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0": corev1.PullIfNotPresent,
		"Not A Reference": corev1.PullIfNotPresent,
		"":                corev1.PullIfNotPresent,
	} {
		c := corev1.Container{Image: image}
		defaultContainer(&c)
		if c.ImagePullPolicy != want {
			t.Errorf("image %q: imagePullPolicy %s, want %s", image, c.ImagePullPolicy, want)
		}
	}
	c := corev1.Container{Image: "nginx", ImagePullPolicy: corev1.PullNever}
	defaultContainer(&c)
	if c.ImagePullPolicy != corev1.PullNever {
		t.Errorf("a given pull policy was replaced by %s", c.ImagePullPolicy)
	}
}

func TestPodDefaults(t *testing.T) {
	pod := decodeYAML[*corev1.Pod](t, `
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  hostNetwork: true
  serviceAccount: builder
  containers:
  - name: c
    image: app:1
    ports: [{containerPort: 8080}]
    resources:
      limits: {cpu: 500m, memory: 128Mi}
    livenessProbe:
      grpc: {port: 9000}
    lifecycle:
      preStop:
        httpGet: {port: 80}
    env:
    - name: NODE
      valueFrom:
        fieldRef: {fieldPath: spec.nodeName}
  volumes:
  - name: s
    secret: {secretName: s}
  - name: h
    hostPath: {path: /tmp}
  - name: d
    downwardAPI:
      items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]
  - name: pr
    projected:
      sources:
      - serviceAccountToken: {path: token}
  - name: empty
`)
	if errs := createObject(t, Pods, pod); len(errs) > 0 {
		t.Fatalf("create: %v", errs.ToAggregate())
	}
	want := decodeYAML[*corev1.Pod](t, `
apiVersion: v1
kind: Pod
spec:
  hostNetwork: true
  serviceAccount: builder
  serviceAccountName: builder
  containers:
  - name: c
    image: app:1
    imagePullPolicy: IfNotPresent
    ports: [{containerPort: 8080, hostPort: 8080, protocol: TCP}]
    resources:
      limits: {cpu: 500m, memory: 128Mi}
      requests: {cpu: 500m, memory: 128Mi}
    livenessProbe:
      grpc: {port: 9000, service: ""}
      timeoutSeconds: 1
      periodSeconds: 10
      successThreshold: 1
      failureThreshold: 3
    lifecycle:
      preStop:
        httpGet: {port: 80, path: /, scheme: HTTP}
    env:
    - name: NODE
      valueFrom:
        fieldRef: {apiVersion: v1, fieldPath: spec.nodeName}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  restartPolicy: Always
  schedulerName: default-scheduler
  securityContext: {}
  terminationGracePeriodSeconds: 30
  volumes:
  - name: s
    secret: {secretName: s, defaultMode: 420}
  - name: h
    hostPath: {path: /tmp, type: ""}
  - name: d
    downwardAPI:
      defaultMode: 420
      items: [{path: labels, fieldRef: {apiVersion: v1, fieldPath: metadata.labels}}]
  - name: pr
    projected:
      defaultMode: 420
      sources:
      - serviceAccountToken: {path: token, expirationSeconds: 3600}
  - name: empty
    emptyDir: {}
status: {phase: Pending, qosClass: Guaranteed}
`)
	if diff := cmp.Diff(want.Spec, pod.Spec); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.Status, pod.Status); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}

// Requests default to limits for pods only: a template keeps what the user wrote.
func TestTemplateRequestsNotDefaulted(t *testing.T) {
	d := decodeYAML[*appsv1.Deployment](t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers:
      - name: c
        image: app:1
        resources: {limits: {cpu: "1"}}
`)
	Deployments.Strategy.Default(d)
	if got := d.Spec.Template.Spec.Containers[0].Resources.Requests; got != nil {
		t.Errorf("template requests = %v, want none", got)
	}
	if d.Spec.Template.Spec.EnableServiceLinks != nil {
		t.Errorf("template enableServiceLinks set; kube-apiserver sets it on pods only")
	}
}

func TestQOSClass(t *testing.T) {
	tests := []struct {
		resources string
		want      corev1.PodQOSClass
	}{
		{`{}`, corev1.PodQOSBestEffort},
		{`{requests: {cpu: 100m}}`, corev1.PodQOSBurstable},
		{`{limits: {cpu: 100m, memory: 64Mi}}`, corev1.PodQOSGuaranteed},
		{`{limits: {cpu: 100m, memory: 64Mi}, requests: {cpu: 50m}}`, corev1.PodQOSBurstable},
	}
	for _, tt := range tests {
		pod := decodeYAML[*corev1.Pod](t, `
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: c, image: app:1, resources: `+tt.resources+`}]
`)
		if errs := createObject(t, Pods, pod); len(errs) > 0 {
			t.Fatalf("create: %v", errs.ToAggregate())
		}
		if pod.Status.QOSClass != tt.want {
			t.Errorf("resources %s: QoS %s, want %s", tt.resources, pod.Status.QOSClass, tt.want)
		}
	}
}

func TestResourceQuantitiesRoundUpToMilli(t *testing.T) {
	pod := decodeYAML[*corev1.Pod](t, `
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: c, image: app:1, resources: {requests: {cpu: 100u}}}]
`)
	Pods.Strategy.Default(pod)
	if got := pod.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; got.String() != "1m" {
		t.Errorf("cpu request %s, want 1m", got.String())
	}
}

func TestJobDefaultsAndGeneratedSelector(t *testing.T) {
	job := decodeYAML[*batchv1.Job](t, `
apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  template:
    spec:
      containers: [{name: pi, image: perl:5.34.0, command: [perl, -Mbignum=bpi, -wle, print bpi(2000)]}]
      restartPolicy: Never
  backoffLimit: 4
`)
	if errs := createObject(t, Jobs, job); len(errs) > 0 {
		t.Fatalf("create: %v", errs.ToAggregate())
	}
	uid := string(testUID)
	want := decodeYAML[*batchv1.Job](t, `
apiVersion: batch/v1
kind: Job
metadata:
  labels:
    batch.kubernetes.io/controller-uid: `+uid+`
    batch.kubernetes.io/job-name: pi
    controller-uid: `+uid+`
    job-name: pi
spec:
  backoffLimit: 4
  completionMode: NonIndexed
  completions: 1
  manualSelector: false
  parallelism: 1
  podReplacementPolicy: TerminatingOrFailed
  selector:
    matchLabels:
      batch.kubernetes.io/controller-uid: `+uid+`
  suspend: false
  template:
    metadata:
      labels:
        batch.kubernetes.io/controller-uid: `+uid+`
        batch.kubernetes.io/job-name: pi
        controller-uid: `+uid+`
        job-name: pi
    spec:
      containers:
      - command: [perl, -Mbignum=bpi, -wle, print bpi(2000)]
        image: perl:5.34.0
        imagePullPolicy: IfNotPresent
        name: pi
        resources: {}
        terminationMessagePath: /dev/termination-log
        terminationMessagePolicy: File
      dnsPolicy: ClusterFirst
      restartPolicy: Never
      schedulerName: default-scheduler
      securityContext: {}
      terminationGracePeriodSeconds: 30
`)
	if diff := cmp.Diff(want.Labels, job.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.Spec, job.Spec); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}

	// Parallelism alone leaves completions unset (a work queue).
	queue := &batchv1.Job{Spec: batchv1.JobSpec{Parallelism: ptr.To[int32](3)}}
	Jobs.Strategy.Default(queue)
	if queue.Spec.Completions != nil || *queue.Spec.Parallelism != 3 {
		t.Errorf("work queue: completions %v parallelism %v", queue.Spec.Completions, *queue.Spec.Parallelism)
	}
	// A pod failure policy replaces only failed pods.
	pfp := &batchv1.Job{Spec: batchv1.JobSpec{PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
		Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}},
	}}}}}
	Jobs.Strategy.Default(pfp)
	if *pfp.Spec.PodReplacementPolicy != batchv1.Failed || pfp.Spec.PodFailurePolicy.Rules[0].OnPodConditions[0].Status != corev1.ConditionTrue {
		t.Errorf("pod failure policy defaults: %v, %v", *pfp.Spec.PodReplacementPolicy, pfp.Spec.PodFailurePolicy.Rules[0].OnPodConditions[0].Status)
	}
}

func TestCronJobDefaults(t *testing.T) {
	cj := decodeYAML[*batchv1.CronJob](t, `
apiVersion: batch/v1
kind: CronJob
metadata: {name: hello}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: hello, image: busybox:1.28, command: [date]}]
          restartPolicy: OnFailure
`)
	if errs := createObject(t, CronJobs, cj); len(errs) > 0 {
		t.Fatalf("create: %v", errs.ToAggregate())
	}
	if cj.Spec.ConcurrencyPolicy != batchv1.AllowConcurrent || !ptr.Equal(cj.Spec.Suspend, ptr.To(false)) ||
		*cj.Spec.SuccessfulJobsHistoryLimit != 3 || *cj.Spec.FailedJobsHistoryLimit != 1 {
		t.Errorf("cronjob defaults: %+v", cj.Spec)
	}
	// The job template gets pod defaults, not a Job's.
	if js := cj.Spec.JobTemplate.Spec; js.BackoffLimit != nil || js.Completions != nil || js.Template.Spec.DNSPolicy != corev1.DNSClusterFirst {
		t.Errorf("job template defaults: backoffLimit %v completions %v dnsPolicy %q", js.BackoffLimit, js.Completions, js.Template.Spec.DNSPolicy)
	}
}

func TestDaemonSetDefaultsAndTemplateGeneration(t *testing.T) {
	ds := decodeYAML[*appsv1.DaemonSet](t, `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: a, image: agent:1}]
`)
	if errs := createObject(t, DaemonSets, ds); len(errs) > 0 {
		t.Fatalf("create: %v", errs.ToAggregate())
	}
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru.MaxUnavailable.IntValue() != 1 ||
		ru.MaxSurge.IntValue() != 0 || *ds.Spec.RevisionHistoryLimit != 10 {
		t.Errorf("daemonset defaults: %+v", ds.Spec.UpdateStrategy)
	}
	if got := ds.Annotations[appsv1.DeprecatedTemplateGeneration]; got != "1" {
		t.Errorf("template generation %q, want 1", got)
	}
	same := ds.DeepCopy()
	if errs := updateObject(t, DaemonSets, same, ds); len(errs) > 0 || same.Annotations[appsv1.DeprecatedTemplateGeneration] != "1" {
		t.Errorf("unchanged update: %v, generation %s", errs, same.Annotations[appsv1.DeprecatedTemplateGeneration])
	}
	changed := ds.DeepCopy()
	changed.Spec.Template.Spec.Containers[0].Image = "agent:2"
	if errs := updateObject(t, DaemonSets, changed, ds); len(errs) > 0 || changed.Annotations[appsv1.DeprecatedTemplateGeneration] != "2" {
		t.Errorf("template update: %v, generation %s", errs, changed.Annotations[appsv1.DeprecatedTemplateGeneration])
	}
}

func TestServiceDefaults(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"load balancer", `{type: LoadBalancer, ports: [{port: 80, targetPort: http}], selector: {app: a}}`,
			`{type: LoadBalancer, ports: [{port: 80, protocol: TCP, targetPort: http}], selector: {app: a},
			  sessionAffinity: None, externalTrafficPolicy: Cluster, internalTrafficPolicy: Cluster,
			  allocateLoadBalancerNodePorts: true, ipFamilies: [IPv4], ipFamilyPolicy: SingleStack}`},
		{"client IP affinity", `{ports: [{port: 53, protocol: UDP}], sessionAffinity: ClientIP}`,
			`{type: ClusterIP, ports: [{port: 53, protocol: UDP, targetPort: 53}], sessionAffinity: ClientIP,
			  sessionAffinityConfig: {clientIP: {timeoutSeconds: 10800}}, internalTrafficPolicy: Cluster,
			  ipFamilies: [IPv4], ipFamilyPolicy: SingleStack}`},
		{"external name", `{type: ExternalName, externalName: example.com}`,
			`{type: ExternalName, externalName: example.com, sessionAffinity: None}`},
		{"headless without selector", `{clusterIP: None, ports: [{port: 80}]}`,
			`{clusterIP: None, clusterIPs: [None], type: ClusterIP, ports: [{port: 80, protocol: TCP, targetPort: 80}],
			  sessionAffinity: None, internalTrafficPolicy: Cluster, ipFamilies: [IPv4, IPv6], ipFamilyPolicy: RequireDualStack}`},
		{"given cluster IP", `{clusterIP: 10.96.0.10, ports: [{port: 53}]}`,
			`{clusterIP: 10.96.0.10, clusterIPs: [10.96.0.10], type: ClusterIP, ports: [{port: 53, protocol: TCP, targetPort: 53}],
			  sessionAffinity: None, internalTrafficPolicy: Cluster, ipFamilies: [IPv4], ipFamilyPolicy: SingleStack}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := decodeYAML[*corev1.Service](t, "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: "+tt.in)
			if errs := createObject(t, Services, svc); len(errs) > 0 {
				t.Fatalf("create: %v", errs.ToAggregate())
			}
			want := decodeYAML[*corev1.Service](t, "apiVersion: v1\nkind: Service\nspec: "+tt.want)
			if diff := cmp.Diff(want.Spec, svc.Spec); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNamespaceDefaults(t *testing.T) {
	ns := decodeYAML[*corev1.Namespace](t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}")
	if errs := createObject(t, Namespaces, ns); len(errs) > 0 {
		t.Fatalf("create: %v", errs.ToAggregate())
	}
	if ns.Labels[corev1.LabelMetadataName] != "demo" || ns.Status.Phase != corev1.NamespaceActive ||
		!cmp.Equal(ns.Spec.Finalizers, []corev1.FinalizerName{corev1.FinalizerKubernetes}) {
		t.Errorf("namespace: labels %v phase %q finalizers %v", ns.Labels, ns.Status.Phase, ns.Spec.Finalizers)
	}
	// The main resource cannot drop finalizers or change the phase.
	upd := ns.DeepCopy()
	upd.Spec.Finalizers = nil
	upd.Status.Phase = corev1.NamespaceTerminating
	if errs := updateObject(t, Namespaces, upd, ns); len(errs) > 0 {
		t.Fatalf("update: %v", errs.ToAggregate())
	}
	if len(upd.Spec.Finalizers) != 1 || upd.Status.Phase != corev1.NamespaceActive {
		t.Errorf("update changed finalizers %v or phase %q", upd.Spec.Finalizers, upd.Status.Phase)
	}
}

func TestSmallerDefaults(t *testing.T) {
	node := &corev1.Node{Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24"},
		Status: corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}}
	Nodes.Strategy.Default(node)
	if !cmp.Equal(node.Spec.PodCIDRs, []string{"10.244.1.0/24"}) || node.Status.Allocatable.Cpu().String() != "2" {
		t.Errorf("node: podCIDRs %v allocatable %v", node.Spec.PodCIDRs, node.Status.Allocatable)
	}

	ep := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80}}}}}
	Endpoints.Strategy.Default(ep)
	if ep.Subsets[0].Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("endpoints port protocol %q", ep.Subsets[0].Ports[0].Protocol)
	}

	slice := &discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{{Port: ptr.To[int32](80)}}}
	EndpointSlices.Strategy.Default(slice)
	if ptr.Deref(slice.Ports[0].Name, "x") != "" || ptr.Deref(slice.Ports[0].Protocol, "") != corev1.ProtocolTCP {
		t.Errorf("endpoint slice port %+v", slice.Ports[0])
	}

	sc := &storagev1.StorageClass{Provisioner: "rancher.io/local-path"}
	StorageClasses.Strategy.Default(sc)
	if *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete || *sc.VolumeBindingMode != storagev1.VolumeBindingImmediate {
		t.Errorf("storage class: %v %v", *sc.ReclaimPolicy, *sc.VolumeBindingMode)
	}

	lr := decodeYAML[*corev1.LimitRange](t, `
apiVersion: v1
kind: LimitRange
metadata: {name: l}
spec:
  limits:
  - type: Container
    max: {cpu: "2"}
    min: {memory: 64Mi}
`)
	LimitRanges.Strategy.Default(lr)
	item := lr.Spec.Limits[0]
	if item.Default.Cpu().String() != "2" || item.DefaultRequest.Cpu().String() != "2" || item.DefaultRequest.Memory().String() != "64Mi" {
		t.Errorf("limit range: default %v defaultRequest %v", item.Default, item.DefaultRequest)
	}

	cm := &corev1.ConfigMap{}
	ConfigMaps.Strategy.Default(cm)
	if cm.Data == nil {
		t.Errorf("configmap data not defaulted")
	}

	secret := &corev1.Secret{Data: map[string][]byte{"a": []byte("1")}, StringData: map[string]string{"a": "2", "b": "3"}}
	Secrets.Strategy.Default(secret)
	if secret.Type != corev1.SecretTypeOpaque || string(secret.Data["a"]) != "2" || string(secret.Data["b"]) != "3" || secret.StringData != nil {
		t.Errorf("secret: type %q data %q stringData %v", secret.Type, secret.Data, secret.StringData)
	}

	status := corev1.PodStatus{PodIP: "10.244.1.5"}
	normalizePodIPs(&status)
	if !cmp.Equal(status.PodIPs, []corev1.PodIP{{IP: "10.244.1.5"}}) {
		t.Errorf("podIPs %v", status.PodIPs)
	}
}
