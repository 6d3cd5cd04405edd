// Package printers turns API objects into the server-side Tables kubectl get prints, with
// the columns, cells and formats of kube-apiserver v1.32's printers.
//
// kube-apiserver always fills the wide (priority 1) cells and lets the client hide them, so
// every row here carries them too. Cells are only string, int64 or bool: Table rows are
// deep-copied as JSON values, which knows no other integer types.
package printers

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// Table converts one typed object (e.g. *corev1.Pod) or a typed list (*corev1.PodList) into
// a Table with the columns kube-apiserver prints for its kind. now is the clock for AGE-like
// cells. Kinds without a printer of their own get kube-apiserver's default table (NAME,
// CREATED AT). The Table's ListMeta is left for the caller to fill.
func Table(obj runtime.Object, now time.Time) (*metav1.Table, error) {
	switch o := obj.(type) {
	// core/v1
	case *corev1.Namespace:
		return one(namespaceColumns, o, namespaceRow, now)
	case *corev1.NamespaceList:
		return many(namespaceColumns, o.Items, namespaceRow, now)
	case *corev1.Pod:
		return one(podColumns, o, podRow, now)
	case *corev1.PodList:
		return many(podColumns, o.Items, podRow, now)
	case *corev1.Node:
		return one(nodeColumns, o, nodeRow, now)
	case *corev1.NodeList:
		return many(nodeColumns, o.Items, nodeRow, now)
	case *corev1.Service:
		return one(serviceColumns, o, serviceRow, now)
	case *corev1.ServiceList:
		return many(serviceColumns, o.Items, serviceRow, now)
	case *corev1.Endpoints:
		return one(endpointsColumns, o, endpointsRow, now)
	case *corev1.EndpointsList:
		return many(endpointsColumns, o.Items, endpointsRow, now)
	case *corev1.ConfigMap:
		return one(configMapColumns, o, configMapRow, now)
	case *corev1.ConfigMapList:
		return many(configMapColumns, o.Items, configMapRow, now)
	case *corev1.Secret:
		return one(secretColumns, o, secretRow, now)
	case *corev1.SecretList:
		return many(secretColumns, o.Items, secretRow, now)
	case *corev1.ServiceAccount:
		return one(serviceAccountColumns, o, serviceAccountRow, now)
	case *corev1.ServiceAccountList:
		return many(serviceAccountColumns, o.Items, serviceAccountRow, now)
	case *corev1.Event:
		return one(eventColumns, o, coreEventRow, now)
	case *corev1.EventList:
		return many(eventColumns, o.Items, coreEventRow, now)
	case *corev1.ReplicationController:
		return one(replicationControllerColumns, o, replicationControllerRow, now)
	case *corev1.ReplicationControllerList:
		return many(replicationControllerColumns, o.Items, replicationControllerRow, now)
	case *corev1.PersistentVolume:
		return one(persistentVolumeColumns, o, persistentVolumeRow, now)
	case *corev1.PersistentVolumeList:
		return many(persistentVolumeColumns, o.Items, persistentVolumeRow, now)
	case *corev1.PersistentVolumeClaim:
		return one(persistentVolumeClaimColumns, o, persistentVolumeClaimRow, now)
	case *corev1.PersistentVolumeClaimList:
		return many(persistentVolumeClaimColumns, o.Items, persistentVolumeClaimRow, now)
	case *corev1.ResourceQuota:
		return one(resourceQuotaColumns, o, resourceQuotaRow, now)
	case *corev1.ResourceQuotaList:
		return many(resourceQuotaColumns, o.Items, resourceQuotaRow, now)
	// LimitRanges have no printer in kube-apiserver: they get the default table, below.

	// apps/v1
	case *appsv1.Deployment:
		return one(deploymentColumns, o, deploymentRow, now)
	case *appsv1.DeploymentList:
		return many(deploymentColumns, o.Items, deploymentRow, now)
	case *appsv1.ReplicaSet:
		return one(replicaSetColumns, o, replicaSetRow, now)
	case *appsv1.ReplicaSetList:
		return many(replicaSetColumns, o.Items, replicaSetRow, now)
	case *appsv1.StatefulSet:
		return one(statefulSetColumns, o, statefulSetRow, now)
	case *appsv1.StatefulSetList:
		return many(statefulSetColumns, o.Items, statefulSetRow, now)
	case *appsv1.DaemonSet:
		return one(daemonSetColumns, o, daemonSetRow, now)
	case *appsv1.DaemonSetList:
		return many(daemonSetColumns, o.Items, daemonSetRow, now)
	case *appsv1.ControllerRevision:
		return one(controllerRevisionColumns, o, controllerRevisionRow, now)
	case *appsv1.ControllerRevisionList:
		return many(controllerRevisionColumns, o.Items, controllerRevisionRow, now)

	// batch/v1
	case *batchv1.Job:
		return one(jobColumns, o, jobRow, now)
	case *batchv1.JobList:
		return many(jobColumns, o.Items, jobRow, now)
	case *batchv1.CronJob:
		return one(cronJobColumns, o, cronJobRow, now)
	case *batchv1.CronJobList:
		return many(cronJobColumns, o.Items, cronJobRow, now)

	// the smaller groups
	case *coordinationv1.Lease:
		return one(leaseColumns, o, leaseRow, now)
	case *coordinationv1.LeaseList:
		return many(leaseColumns, o.Items, leaseRow, now)
	case *discoveryv1.EndpointSlice:
		return one(endpointSliceColumns, o, endpointSliceRow, now)
	case *discoveryv1.EndpointSliceList:
		return many(endpointSliceColumns, o.Items, endpointSliceRow, now)
	case *eventsv1.Event:
		return one(eventColumns, o, eventsV1EventRow, now)
	case *eventsv1.EventList:
		return many(eventColumns, o.Items, eventsV1EventRow, now)
	case *storagev1.StorageClass:
		return one(storageClassColumns, o, storageClassRow, now)
	case *storagev1.StorageClassList:
		return many(storageClassColumns, o.Items, storageClassRow, now)
	case *policyv1.PodDisruptionBudget:
		return one(podDisruptionBudgetColumns, o, podDisruptionBudgetRow, now)
	case *policyv1.PodDisruptionBudgetList:
		return many(podDisruptionBudgetColumns, o.Items, podDisruptionBudgetRow, now)
	}
	return defaultTable(obj)
}

// rowFunc computes the cells (and, for pods, the conditions) of one object's row.
type rowFunc[P any] func(obj P, now time.Time) (metav1.TableRow, error)

// one is the Table of a single object. Tables get their own copy of the columns, which
// callers may edit.
func one[T any, P interface {
	*T
	runtime.Object
}](columns []metav1.TableColumnDefinition, obj P, row rowFunc[P], now time.Time) (*metav1.Table, error) {
	r, err := row(obj, now)
	if err != nil {
		return nil, err
	}
	r.Object = runtime.RawExtension{Object: obj}
	return &metav1.Table{ColumnDefinitions: slices.Clone(columns), Rows: []metav1.TableRow{r}}, nil
}

// many is the Table of a list's items, in the list's order.
func many[T any, P interface {
	*T
	runtime.Object
}](columns []metav1.TableColumnDefinition, items []T, row rowFunc[P], now time.Time) (*metav1.Table, error) {
	rows := make([]metav1.TableRow, 0, len(items))
	for i := range items {
		item := P(&items[i])
		r, err := row(item, now)
		if err != nil {
			return nil, err
		}
		r.Object = runtime.RawExtension{Object: item}
		rows = append(rows, r)
	}
	return &metav1.Table{ColumnDefinitions: slices.Clone(columns), Rows: rows}, nil
}

// cells is a row of the given cells, for rows that need nothing else.
func cells(c ...any) (metav1.TableRow, error) {
	return metav1.TableRow{Cells: c}, nil
}

// Column descriptions come from the API types' own documentation, as kube's do, so they
// read exactly the same.
var objectMetaDoc = metav1.ObjectMeta{}.SwaggerDoc()

// nameColumn is the NAME column every printer starts with.
var nameColumn = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: objectMetaDoc["name"]}

// ageColumn is the AGE column, the object's age from its creationTimestamp.
var ageColumn = column("Age", "string", objectMetaDoc["creationTimestamp"])

// column is a column shown by plain kubectl get.
func column(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description}
}

// wide is a column shown only by kubectl get -o wide.
func wide(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Priority: 1, Description: description}
}

// Descriptions of the CONTAINERS and IMAGES columns of workload printers.
const (
	containersDescription = "Names of each container in the template."
	imagesDescription     = "Images referenced by each container in the template."
)

// since is how long ago t was, as kubectl prints ages: "5m", "3d4h", "<unknown>" for no time.
func since(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// sinceMicro is since for a MicroTime.
func sinceMicro(t metav1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// containerCells are the CONTAINERS and IMAGES cells: names and images, comma-separated.
func containerCells(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	im := make([]string, len(containers))
	for i, c := range containers {
		n[i] = c.Name
		im[i] = c.Image
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}

// firstThree joins up to three entries with commas and says how many more there are, as
// kube prints endpoint lists: "a,b,c + 2 more...".
func firstThree(entries []string) string {
	const shown = 3
	if len(entries) <= shown {
		return strings.Join(entries, ",")
	}
	return fmt.Sprintf("%s + %d more...", strings.Join(entries[:shown], ","), len(entries)-shown)
}

// boolPtr prints an optional bool the way kube does: True, False or <unset>.
func boolPtr(b *bool) string {
	switch {
	case b == nil:
		return "<unset>"
	case *b:
		return "True"
	default:
		return "False"
	}
}

// replicasOrDefault is an optional replica count, read as the API defaults it (to 1).
// kube-apiserver decodes stored objects with defaulting, so it never sees nil here.
func replicasOrDefault(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}
