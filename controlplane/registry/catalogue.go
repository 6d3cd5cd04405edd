package registry

// The served resources. Each resource's Strategy is filled in by the file named after it.

var allCategory = []string{"all"}

// core/v1
var (
	Namespaces = &Resource{Version: "v1", Resource: "namespaces", Kind: "Namespace", ShortNames: []string{"ns"},
		Subresources: []string{Status, Finalize}, NameIsLabel: true, NoDeleteCollection: true}
	Pods = &Resource{Version: "v1", Resource: "pods", Kind: "Pod", ShortNames: []string{"po"}, Categories: allCategory,
		Namespaced: true, Subresources: []string{Status, Binding, Eviction, Log, Exec, Attach, PortForward}}
	Nodes = &Resource{Version: "v1", Resource: "nodes", Kind: "Node", ShortNames: []string{"no"},
		Subresources: []string{Status}}
	Services = &Resource{Version: "v1", Resource: "services", Kind: "Service", ShortNames: []string{"svc"}, Categories: allCategory,
		Namespaced: true, Subresources: []string{Status}, NameIsDNS1035: true}
	Endpoints              = &Resource{Version: "v1", Resource: "endpoints", Kind: "Endpoints", ShortNames: []string{"ep"}, Namespaced: true}
	ConfigMaps             = &Resource{Version: "v1", Resource: "configmaps", Kind: "ConfigMap", ShortNames: []string{"cm"}, Namespaced: true}
	Secrets                = &Resource{Version: "v1", Resource: "secrets", Kind: "Secret", Namespaced: true}
	Events                 = &Resource{Version: "v1", Resource: "events", Kind: "Event", ShortNames: []string{"ev"}, Namespaced: true}
	ServiceAccounts        = &Resource{Version: "v1", Resource: "serviceaccounts", Kind: "ServiceAccount", ShortNames: []string{"sa"}, Namespaced: true}
	ReplicationControllers = &Resource{Version: "v1", Resource: "replicationcontrollers", Kind: "ReplicationController",
		ShortNames: []string{"rc"}, Categories: allCategory, Namespaced: true, Subresources: []string{Status, Scale}, Generation: true}
	PersistentVolumes = &Resource{Version: "v1", Resource: "persistentvolumes", Kind: "PersistentVolume", ShortNames: []string{"pv"},
		Subresources: []string{Status}}
	PersistentVolumeClaims = &Resource{Version: "v1", Resource: "persistentvolumeclaims", Kind: "PersistentVolumeClaim",
		ShortNames: []string{"pvc"}, Namespaced: true, Subresources: []string{Status}}
	LimitRanges    = &Resource{Version: "v1", Resource: "limitranges", Kind: "LimitRange", ShortNames: []string{"limits"}, Namespaced: true}
	ResourceQuotas = &Resource{Version: "v1", Resource: "resourcequotas", Kind: "ResourceQuota", ShortNames: []string{"quota"},
		Namespaced: true, Subresources: []string{Status}}
)

// apps/v1
var (
	Deployments = &Resource{Group: "apps", Version: "v1", Resource: "deployments", Kind: "Deployment", ShortNames: []string{"deploy"},
		Categories: allCategory, Namespaced: true, Subresources: []string{Status, Scale}, Generation: true}
	ReplicaSets = &Resource{Group: "apps", Version: "v1", Resource: "replicasets", Kind: "ReplicaSet", ShortNames: []string{"rs"},
		Categories: allCategory, Namespaced: true, Subresources: []string{Status, Scale}, Generation: true}
	// A StatefulSet's name is its pods' hostname prefix, so kube-apiserver wants a DNS label.
	StatefulSets = &Resource{Group: "apps", Version: "v1", Resource: "statefulsets", Kind: "StatefulSet", ShortNames: []string{"sts"},
		Categories: allCategory, Namespaced: true, Subresources: []string{Status, Scale}, Generation: true, NameIsLabel: true}
	DaemonSets = &Resource{Group: "apps", Version: "v1", Resource: "daemonsets", Kind: "DaemonSet", ShortNames: []string{"ds"},
		Categories: allCategory, Namespaced: true, Subresources: []string{Status}, Generation: true}
	ControllerRevisions = &Resource{Group: "apps", Version: "v1", Resource: "controllerrevisions", Kind: "ControllerRevision", Namespaced: true}
)

// batch/v1
var (
	Jobs = &Resource{Group: "batch", Version: "v1", Resource: "jobs", Kind: "Job", Categories: allCategory, Namespaced: true,
		Subresources: []string{Status}, Generation: true}
	CronJobs = &Resource{Group: "batch", Version: "v1", Resource: "cronjobs", Kind: "CronJob", ShortNames: []string{"cj"},
		Categories: allCategory, Namespaced: true, Subresources: []string{Status}, Generation: true}
)

// The smaller groups.
var (
	Leases         = &Resource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases", Kind: "Lease", Namespaced: true}
	EndpointSlices = &Resource{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices", Kind: "EndpointSlice", Namespaced: true}
	EventsV1       = &Resource{Group: "events.k8s.io", Version: "v1", Resource: "events", Kind: "Event", ShortNames: []string{"ev"},
		Namespaced: true, StoredAs: Events}
	StorageClasses       = &Resource{Group: "storage.k8s.io", Version: "v1", Resource: "storageclasses", Kind: "StorageClass", ShortNames: []string{"sc"}}
	PodDisruptionBudgets = &Resource{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets", Kind: "PodDisruptionBudget",
		ShortNames: []string{"pdb"}, Namespaced: true, Subresources: []string{Status}, Generation: true}
)

func init() {
	register(
		Namespaces, Pods, Nodes, Services, Endpoints, ConfigMaps, Secrets, Events, ServiceAccounts,
		ReplicationControllers, PersistentVolumes, PersistentVolumeClaims, LimitRanges, ResourceQuotas,
		Deployments, ReplicaSets, StatefulSets, DaemonSets, ControllerRevisions,
		Jobs, CronJobs,
		Leases, EndpointSlices, EventsV1, StorageClasses, PodDisruptionBudgets,
	)
}
