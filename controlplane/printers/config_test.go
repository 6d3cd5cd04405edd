package printers

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestNamespaceRows(t *testing.T) {
	active := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", CreationTimestamp: ago(3 * 24 * time.Hour)},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	checkCells(t, namespaceColumns, cellsOf(t, active), []any{"default", "Active", "3d"})

	leaving := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "demo", CreationTimestamp: ago(10 * time.Minute)},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	checkCells(t, namespaceColumns, cellsOf(t, leaving), []any{"demo", "Terminating", "10m"})
}

func TestConfigRows(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: objMeta("settings", time.Hour),
		Data:       map[string]string{"a.conf": "x", "b.conf": "y"},
		BinaryData: map[string][]byte{"logo.png": {0x89}}}
	checkCells(t, configMapColumns, cellsOf(t, cm), []any{"settings", int64(3), "60m"})

	root := &corev1.ConfigMap{ObjectMeta: objMeta("kube-root-ca.crt", time.Hour), Data: map[string]string{"ca.crt": "..."}}
	checkCells(t, configMapColumns, cellsOf(t, root), []any{"kube-root-ca.crt", int64(1), "60m"})

	tls := &corev1.Secret{ObjectMeta: objMeta("web-tls", 2*time.Hour), Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": []byte("c"), "tls.key": []byte("k")}}
	checkCells(t, secretColumns, cellsOf(t, tls), []any{"web-tls", "kubernetes.io/tls", int64(2), "120m"})

	// stringData left unmerged counts once per key.
	opaque := &corev1.Secret{ObjectMeta: objMeta("creds", time.Minute), Type: corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"user": []byte("admin")},
		StringData: map[string]string{"user": "root", "password": "s3cret"}}
	checkCells(t, secretColumns, cellsOf(t, opaque), []any{"creds", "Opaque", int64(2), "60s"})

	sa := &corev1.ServiceAccount{ObjectMeta: objMeta("default", 3*24*time.Hour)}
	checkCells(t, serviceAccountColumns, cellsOf(t, sa), []any{"default", int64(0), "3d"})

	legacy := &corev1.ServiceAccount{ObjectMeta: objMeta("builder", time.Hour),
		Secrets: []corev1.ObjectReference{{Name: "builder-token-x7k2p"}}}
	checkCells(t, serviceAccountColumns, cellsOf(t, legacy), []any{"builder", int64(1), "60m"})
}

func TestResourceQuotaRows(t *testing.T) {
	q := &corev1.ResourceQuota{ObjectMeta: objMeta("compute", time.Hour),
		Status: corev1.ResourceQuotaStatus{
			Hard: corev1.ResourceList{
				"requests.memory": resource.MustParse("8Gi"), "limits.cpu": resource.MustParse("8"),
				"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("4"),
				"limits.memory": resource.MustParse("16Gi"), "count/deployments.apps": resource.MustParse("5"),
			},
			Used: corev1.ResourceList{
				"requests.memory": resource.MustParse("1Gi"), "limits.cpu": resource.MustParse("1"),
				"pods": resource.MustParse("3"), "requests.cpu": resource.MustParse("500m"),
			},
		}}
	checkCells(t, resourceQuotaColumns, cellsOf(t, q), []any{"compute",
		"count/deployments.apps: 0/5, pods: 3/10, requests.cpu: 500m/4, requests.memory: 1Gi/8Gi",
		"limits.cpu: 1/8, limits.memory: 0/16Gi", "60m"})

	fresh := &corev1.ResourceQuota{ObjectMeta: objMeta("new", time.Second)}
	checkCells(t, resourceQuotaColumns, cellsOf(t, fresh), []any{"new", "", "", "1s"})
}

func TestLeaseRows(t *testing.T) {
	held := &coordinationv1.Lease{ObjectMeta: objMeta("kindlike-worker", 2*time.Hour),
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("kindlike-worker"), LeaseDurationSeconds: ptr(int32(40))}}
	checkCells(t, leaseColumns, cellsOf(t, held), []any{"kindlike-worker", "kindlike-worker", "120m"})

	free := &coordinationv1.Lease{ObjectMeta: objMeta("kube-scheduler", 2*time.Hour)}
	checkCells(t, leaseColumns, cellsOf(t, free), []any{"kube-scheduler", "", "120m"})
}

func TestPodDisruptionBudgetRows(t *testing.T) {
	minAvail := &policyv1.PodDisruptionBudget{ObjectMeta: objMeta("web", time.Hour),
		Spec:   policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromInt32(2))},
		Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1}}
	checkCells(t, podDisruptionBudgetColumns, cellsOf(t, minAvail), []any{"web", "2", "N/A", int64(1), "60m"})

	maxUnavail := &policyv1.PodDisruptionBudget{ObjectMeta: objMeta("db", time.Hour),
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromString("25%"))}}
	checkCells(t, podDisruptionBudgetColumns, cellsOf(t, maxUnavail), []any{"db", "N/A", "25%", int64(0), "60m"})
}
