package printers

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	appsv1beta1 "k8s.io/api/apps/v1beta1"
	corev1 "k8s.io/api/core/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Several workload descriptions come from the old extensions/v1beta1 and apps/v1beta1
// documentation, because that is where kube's printers take them from.

var deploymentColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Ready", "string", "Number of the pod with ready state"),
	column("Up-to-date", "string", extensionsv1beta1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]),
	column("Available", "string", extensionsv1beta1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]),
	ageColumn,
	wide("Containers", "string", containersDescription),
	wide("Images", "string", imagesDescription),
	wide("Selector", "string", extensionsv1beta1.DeploymentSpec{}.SwaggerDoc()["selector"]),
}

func deploymentRow(d *appsv1.Deployment, now time.Time) (metav1.TableRow, error) {
	selector := "<invalid>"
	if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
		selector = s.String()
	}
	names, images := containerCells(d.Spec.Template.Spec.Containers)
	return cells(
		d.Name,
		fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicasOrDefault(d.Spec.Replicas)),
		int64(d.Status.UpdatedReplicas),
		int64(d.Status.AvailableReplicas),
		since(d.CreationTimestamp, now),
		names, images, selector,
	)
}

var replicaSetColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Desired", "integer", extensionsv1beta1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]),
	column("Current", "integer", extensionsv1beta1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]),
	column("Ready", "integer", extensionsv1beta1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]),
	ageColumn,
	wide("Containers", "string", containersDescription),
	wide("Images", "string", imagesDescription),
	wide("Selector", "string", extensionsv1beta1.ReplicaSetSpec{}.SwaggerDoc()["selector"]),
}

func replicaSetRow(rs *appsv1.ReplicaSet, now time.Time) (metav1.TableRow, error) {
	names, images := containerCells(rs.Spec.Template.Spec.Containers)
	return cells(
		rs.Name,
		int64(replicasOrDefault(rs.Spec.Replicas)),
		int64(rs.Status.Replicas),
		int64(rs.Status.ReadyReplicas),
		since(rs.CreationTimestamp, now),
		names, images, metav1.FormatLabelSelector(rs.Spec.Selector),
	)
}

var replicationControllerColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Desired", "integer", corev1.ReplicationControllerSpec{}.SwaggerDoc()["replicas"]),
	column("Current", "integer", corev1.ReplicationControllerStatus{}.SwaggerDoc()["replicas"]),
	column("Ready", "integer", corev1.ReplicationControllerStatus{}.SwaggerDoc()["readyReplicas"]),
	ageColumn,
	wide("Containers", "string", containersDescription),
	wide("Images", "string", imagesDescription),
	wide("Selector", "string", corev1.ReplicationControllerSpec{}.SwaggerDoc()["selector"]),
}

func replicationControllerRow(rc *corev1.ReplicationController, now time.Time) (metav1.TableRow, error) {
	var containers []corev1.Container
	if rc.Spec.Template != nil {
		containers = rc.Spec.Template.Spec.Containers
	}
	names, images := containerCells(containers)
	return cells(
		rc.Name,
		int64(replicasOrDefault(rc.Spec.Replicas)),
		int64(rc.Status.Replicas),
		int64(rc.Status.ReadyReplicas),
		since(rc.CreationTimestamp, now),
		names, images, labels.FormatLabels(rc.Spec.Selector),
	)
}

var statefulSetColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Ready", "string", "Number of the pod with ready state"),
	ageColumn,
	wide("Containers", "string", containersDescription),
	wide("Images", "string", imagesDescription),
}

func statefulSetRow(sts *appsv1.StatefulSet, now time.Time) (metav1.TableRow, error) {
	names, images := containerCells(sts.Spec.Template.Spec.Containers)
	return cells(
		sts.Name,
		fmt.Sprintf("%d/%d", sts.Status.ReadyReplicas, replicasOrDefault(sts.Spec.Replicas)),
		since(sts.CreationTimestamp, now),
		names, images,
	)
}

var daemonSetColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Desired", "integer", extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()["desiredNumberScheduled"]),
	column("Current", "integer", extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()["currentNumberScheduled"]),
	column("Ready", "integer", extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()["numberReady"]),
	column("Up-to-date", "integer", extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()["updatedNumberScheduled"]),
	column("Available", "integer", extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()["numberAvailable"]),
	column("Node Selector", "string", corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]),
	ageColumn,
	wide("Containers", "string", containersDescription),
	wide("Images", "string", imagesDescription),
	wide("Selector", "string", extensionsv1beta1.DaemonSetSpec{}.SwaggerDoc()["selector"]),
}

func daemonSetRow(ds *appsv1.DaemonSet, now time.Time) (metav1.TableRow, error) {
	names, images := containerCells(ds.Spec.Template.Spec.Containers)
	return cells(
		ds.Name,
		int64(ds.Status.DesiredNumberScheduled),
		int64(ds.Status.CurrentNumberScheduled),
		int64(ds.Status.NumberReady),
		int64(ds.Status.UpdatedNumberScheduled),
		int64(ds.Status.NumberAvailable),
		labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector),
		since(ds.CreationTimestamp, now),
		names, images, metav1.FormatLabelSelector(ds.Spec.Selector),
	)
}

var controllerRevisionColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Controller", "string", "Controller of the object"),
	column("Revision", "string", appsv1beta1.ControllerRevision{}.SwaggerDoc()["revision"]),
	ageColumn,
}

// controllerRevisionRow names the revision's controller as kind.group/name, lower case
// (statefulset.apps/web), or "<none>".
func controllerRevisionRow(cr *appsv1.ControllerRevision, now time.Time) (metav1.TableRow, error) {
	controller := "<none>"
	if ref := metav1.GetControllerOf(cr); ref != nil {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil {
			return metav1.TableRow{}, fmt.Errorf("print controllerrevision %s: controller apiVersion: %w", cr.Name, err)
		}
		controller = ref.Name
		if gk := gv.WithKind(ref.Kind).GroupKind(); !gk.Empty() {
			controller = strings.ToLower(gk.String()) + "/" + ref.Name
		}
	}
	return cells(cr.Name, controller, cr.Revision, since(cr.CreationTimestamp, now))
}
