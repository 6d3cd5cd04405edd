package printers

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	cliprinters "k8s.io/cli-runtime/pkg/printers"
)

// now is the clock of every test.
var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// ago is a time d before now.
func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

// agoPtr is ago as a pointer, for optional times.
func agoPtr(d time.Duration) *metav1.Time { t := ago(d); return &t }

func ptr[T any](v T) *T { return &v }

// objMeta is the metadata of an object created created-ago.
func objMeta(name string, created time.Duration) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(created)}
}

// cellsOf prints one object and returns its single row's cells, after checking what every
// Table must satisfy.
func cellsOf(t *testing.T, obj runtime.Object) []any {
	t.Helper()
	table := tableOf(t, obj)
	if len(table.Rows) != 1 {
		t.Fatalf("got %d rows, want 1", len(table.Rows))
	}
	return table.Rows[0].Cells
}

// tableOf prints obj and checks that the Table is well formed: one cell per column, each
// row carrying the object it was made from, and cells a Table can deep-copy and encode.
func tableOf(t *testing.T, obj runtime.Object) *metav1.Table {
	t.Helper()
	table, err := Table(obj, now)
	if err != nil {
		t.Fatalf("Table(%T): %v", obj, err)
	}
	for i, row := range table.Rows {
		if len(row.Cells) != len(table.ColumnDefinitions) {
			t.Errorf("row %d has %d cells for %d columns", i, len(row.Cells), len(table.ColumnDefinitions))
		}
		if row.Object.Object == nil {
			t.Errorf("row %d carries no object", i)
		}
		for j, c := range row.Cells {
			switch c.(type) {
			case string, int64, bool:
			default:
				t.Errorf("row %d cell %d is a %T; Tables hold only string, int64 and bool cells", i, j, c)
			}
		}
	}
	_ = table.DeepCopy() // panics on cells JSON values cannot hold
	if _, err := json.Marshal(table); err != nil {
		t.Fatalf("encode table: %v", err)
	}
	return table
}

// checkCells compares cells with want, naming the columns that differ.
func checkCells(t *testing.T, columns []metav1.TableColumnDefinition, got, want []any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d cells %#v, want %d %#v", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: got %#v, want %#v", columns[i].Name, got[i], want[i])
		}
	}
}

// TestColumns pins each kind's columns, in order; a trailing * marks -o wide columns.
func TestColumns(t *testing.T) {
	tests := []struct {
		obj  runtime.Object
		want string
	}{
		{&corev1.Namespace{}, "Name Status Age"},
		{&corev1.Pod{}, "Name Ready Status Restarts Age IP* Node* Nominated_Node* Readiness_Gates*"},
		{&corev1.Node{}, "Name Status Roles Age Version Internal-IP* External-IP* OS-Image* Kernel-Version* Container-Runtime*"},
		{&corev1.Service{}, "Name Type Cluster-IP External-IP Port(s) Age Selector*"},
		{&corev1.Endpoints{}, "Name Endpoints Age"},
		{&corev1.ConfigMap{}, "Name Data Age"},
		{&corev1.Secret{}, "Name Type Data Age"},
		{&corev1.Event{}, "Last_Seen Type Reason Object Subobject* Source* Message First_Seen* Count* Name*"},
		{&eventsv1.Event{}, "Last_Seen Type Reason Object Subobject* Source* Message First_Seen* Count* Name*"},
		{&corev1.ServiceAccount{}, "Name Secrets Age"},
		{&corev1.ReplicationController{}, "Name Desired Current Ready Age Containers* Images* Selector*"},
		{&corev1.PersistentVolume{}, "Name Capacity Access_Modes Reclaim_Policy Status Claim StorageClass VolumeAttributesClass Reason Age VolumeMode*"},
		{&corev1.PersistentVolumeClaim{}, "Name Status Volume Capacity Access_Modes StorageClass VolumeAttributesClass Age VolumeMode*"},
		{&corev1.LimitRange{}, "Name Created_At"},
		{&corev1.ResourceQuota{}, "Name Request Limit Age"},
		{&appsv1.Deployment{}, "Name Ready Up-to-date Available Age Containers* Images* Selector*"},
		{&appsv1.ReplicaSet{}, "Name Desired Current Ready Age Containers* Images* Selector*"},
		{&appsv1.StatefulSet{}, "Name Ready Age Containers* Images*"},
		{&appsv1.DaemonSet{}, "Name Desired Current Ready Up-to-date Available Node_Selector Age Containers* Images* Selector*"},
		{&appsv1.ControllerRevision{}, "Name Controller Revision Age"},
		{&batchv1.Job{}, "Name Status Completions Duration Age Containers* Images* Selector*"},
		{&batchv1.CronJob{}, "Name Schedule Timezone Suspend Active Last_Schedule Age Containers* Images* Selector*"},
		{&coordinationv1.Lease{}, "Name Holder Age"},
		{&discoveryv1.EndpointSlice{}, "Name AddressType Ports Endpoints Age"},
		{&storagev1.StorageClass{}, "Name Provisioner ReclaimPolicy VolumeBindingMode AllowVolumeExpansion Age"},
		{&policyv1.PodDisruptionBudget{}, "Name Min_Available Max_Unavailable Allowed_Disruptions Age"},
		{&rbacv1.Role{}, "Name Created_At"},
	}
	for _, tt := range tests {
		t.Run(reflect.TypeOf(tt.obj).Elem().Name(), func(t *testing.T) {
			table := tableOf(t, tt.obj)
			var names []string
			for _, c := range table.ColumnDefinitions {
				n := strings.ReplaceAll(c.Name, " ", "_")
				if c.Priority == 1 {
					n += "*"
				}
				names = append(names, n)
				if c.Description == "" {
					t.Errorf("column %s has no description", c.Name)
				}
				if (c.Format == "name") != (c.Name == "Name") {
					t.Errorf("column %s has format %q; only NAME is formatted as a name", c.Name, c.Format)
				}
			}
			if got := strings.Join(names, " "); got != tt.want {
				t.Errorf("columns\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestColumnTypes pins the column types clients see where they are not all strings.
func TestColumnTypes(t *testing.T) {
	tests := []struct {
		obj  runtime.Object
		want string
	}{
		{&corev1.Pod{}, "string string string string string string string string string"},
		{&appsv1.ReplicaSet{}, "string integer integer integer string string string string"},
		{&appsv1.DaemonSet{}, "string integer integer integer integer integer string string string string string"},
		{&batchv1.CronJob{}, "string string string boolean integer string string string string string"},
		{&policyv1.PodDisruptionBudget{}, "string string string integer string"},
		{&corev1.LimitRange{}, "string date"},
	}
	for _, tt := range tests {
		table := tableOf(t, tt.obj)
		var types []string
		for _, c := range table.ColumnDefinitions {
			types = append(types, c.Type)
		}
		if got := strings.Join(types, " "); got != tt.want {
			t.Errorf("%T column types\n got %s\nwant %s", tt.obj, got, tt.want)
		}
	}
}

// Descriptions are those of kube's printers, taken from the API documentation.
func TestColumnDescriptions(t *testing.T) {
	table := tableOf(t, &corev1.Pod{})
	want := map[string]string{
		"Name":     "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
		"Restarts": "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
		"IP":       "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
	}
	for _, c := range table.ColumnDefinitions {
		if w, ok := want[c.Name]; ok && c.Description != w {
			t.Errorf("%s description\n got %q\nwant %q", c.Name, c.Description, w)
		}
	}
}

func TestListRowsKeepOrderAndItems(t *testing.T) {
	list := &corev1.ConfigMapList{Items: []corev1.ConfigMap{
		{ObjectMeta: objMeta("b", time.Hour)},
		{ObjectMeta: objMeta("a", time.Minute)},
	}}
	table := tableOf(t, list)
	if len(table.Rows) != 2 {
		t.Fatalf("got %d rows, want 2", len(table.Rows))
	}
	for i, row := range table.Rows {
		if row.Object.Object != &list.Items[i] {
			t.Errorf("row %d object is %p, want the list item %p", i, row.Object.Object, &list.Items[i])
		}
	}
	if table.Rows[0].Cells[0] != "b" || table.Rows[1].Cells[0] != "a" {
		t.Errorf("rows out of order: %v, %v", table.Rows[0].Cells, table.Rows[1].Cells)
	}

	empty := tableOf(t, &corev1.PodList{})
	if empty.Rows == nil || len(empty.Rows) != 0 {
		t.Errorf("empty list: got rows %#v, want an empty list", empty.Rows)
	}
}

func TestTablesDoNotShareColumns(t *testing.T) {
	first := tableOf(t, &corev1.Pod{})
	first.ColumnDefinitions[0].Name = "Changed"
	if second := tableOf(t, &corev1.PodList{}); second.ColumnDefinitions[0].Name != "Name" {
		t.Errorf("editing one table's columns changed the next table's: %q", second.ColumnDefinitions[0].Name)
	}
	lr := tableOf(t, &corev1.LimitRange{})
	lr.ColumnDefinitions[1].Name = "Changed"
	if again := tableOf(t, &corev1.LimitRange{}); again.ColumnDefinitions[1].Name != "Created At" {
		t.Errorf("editing a default table's columns changed the next one's: %q", again.ColumnDefinitions[1].Name)
	}
}

func TestSingleObjectRowCarriesObject(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: objMeta("settings", time.Hour)}
	table := tableOf(t, cm)
	if table.Rows[0].Object.Object != cm {
		t.Errorf("row object is %#v, want the configmap itself", table.Rows[0].Object.Object)
	}
}

func TestDefaultTable(t *testing.T) {
	lr := &corev1.LimitRange{ObjectMeta: objMeta("limits", 26*time.Hour)}
	checkCells(t, defaultColumns, cellsOf(t, lr), []any{"limits", "2025-02-28T10:00:00Z"})

	// Times in other zones are printed in UTC.
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "reader",
		CreationTimestamp: metav1.NewTime(time.Date(2025, 2, 1, 9, 30, 0, 0, time.FixedZone("CET", 3600)))}}
	checkCells(t, defaultColumns, cellsOf(t, role), []any{"reader", "2025-02-01T08:30:00Z"})

	list := &corev1.LimitRangeList{Items: []corev1.LimitRange{*lr, {ObjectMeta: objMeta("other", time.Hour)}}}
	table := tableOf(t, list)
	if len(table.Rows) != 2 || table.Rows[1].Cells[0] != "other" || table.Rows[1].Object.Object != &list.Items[1] {
		t.Errorf("list rows: %#v", table.Rows)
	}

	if _, err := Table(&metav1.Status{}, now); err == nil {
		t.Error("an object without metadata printed as a table; want an error")
	}
}

// TestKubectlRendering renders Tables the way kubectl get does, to show what users see.
func TestKubectlRendering(t *testing.T) {
	pods := &corev1.PodList{Items: []corev1.Pod{
		{
			ObjectMeta: objMeta("web-7d4b9c8f6-x2x9q", 10*time.Minute),
			Spec:       corev1.PodSpec{NodeName: "kindlike-worker", Containers: []corev1.Container{{Name: "web"}, {Name: "worker"}}},
			Status: corev1.PodStatus{
				Phase: corev1.PodRunning, PodIP: "10.244.1.5",
				ContainerStatuses: []corev1.ContainerStatus{
					{Name: "web", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
					{Name: "worker", RestartCount: 5,
						State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
						LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", FinishedAt: ago(2 * time.Minute)}}},
				},
			},
		},
		{
			ObjectMeta: objMeta("migrate-db", 30*time.Second),
			Spec:       corev1.PodSpec{InitContainers: []corev1.Container{{Name: "wait"}, {Name: "migrate"}}, Containers: []corev1.Container{{Name: "app"}}},
			Status: corev1.PodStatus{
				Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{
					{Name: "wait", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
					{Name: "migrate", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}},
				},
			},
		},
	}}
	table := tableOf(t, pods)

	render := func(wide bool) string {
		var out bytes.Buffer
		if err := cliprinters.NewTablePrinter(cliprinters.PrintOptions{Wide: wide}).PrintObj(table, &out); err != nil {
			t.Fatalf("render: %v", err)
		}
		return out.String()
	}
	want := `NAME                  READY   STATUS             RESTARTS     AGE
web-7d4b9c8f6-x2x9q   1/2     CrashLoopBackOff   5 (2m ago)   10m
migrate-db            0/1     Init:0/2           0            30s
`
	if got := render(false); got != want {
		t.Errorf("kubectl get pods\n got:\n%s\nwant:\n%s", got, want)
	}
	wantWide := `NAME                  READY   STATUS             RESTARTS     AGE   IP           NODE              NOMINATED NODE   READINESS GATES
web-7d4b9c8f6-x2x9q   1/2     CrashLoopBackOff   5 (2m ago)   10m   10.244.1.5   kindlike-worker   <none>           <none>
migrate-db            0/1     Init:0/2           0            30s   <none>       <none>            <none>           <none>
`
	if got := render(true); got != wantWide {
		t.Errorf("kubectl get pods -o wide\n got:\n%s\nwant:\n%s", got, wantWide)
	}
}

// TestListsPrintLikeTheirItems checks that each served list kind prints its items with the
// item kind's columns and cells.
func TestListsPrintLikeTheirItems(t *testing.T) {
	m := objMeta("x", time.Hour)
	tests := []struct {
		item, list runtime.Object
	}{
		{&corev1.Namespace{ObjectMeta: m}, &corev1.NamespaceList{Items: []corev1.Namespace{{ObjectMeta: m}}}},
		{&corev1.Pod{ObjectMeta: m}, &corev1.PodList{Items: []corev1.Pod{{ObjectMeta: m}}}},
		{&corev1.Node{ObjectMeta: m}, &corev1.NodeList{Items: []corev1.Node{{ObjectMeta: m}}}},
		{&corev1.Service{ObjectMeta: m}, &corev1.ServiceList{Items: []corev1.Service{{ObjectMeta: m}}}},
		{&corev1.Endpoints{ObjectMeta: m}, &corev1.EndpointsList{Items: []corev1.Endpoints{{ObjectMeta: m}}}},
		{&corev1.ConfigMap{ObjectMeta: m}, &corev1.ConfigMapList{Items: []corev1.ConfigMap{{ObjectMeta: m}}}},
		{&corev1.Secret{ObjectMeta: m}, &corev1.SecretList{Items: []corev1.Secret{{ObjectMeta: m}}}},
		{&corev1.ServiceAccount{ObjectMeta: m}, &corev1.ServiceAccountList{Items: []corev1.ServiceAccount{{ObjectMeta: m}}}},
		{&corev1.Event{ObjectMeta: m}, &corev1.EventList{Items: []corev1.Event{{ObjectMeta: m}}}},
		{&corev1.ReplicationController{ObjectMeta: m}, &corev1.ReplicationControllerList{Items: []corev1.ReplicationController{{ObjectMeta: m}}}},
		{&corev1.PersistentVolume{ObjectMeta: m}, &corev1.PersistentVolumeList{Items: []corev1.PersistentVolume{{ObjectMeta: m}}}},
		{&corev1.PersistentVolumeClaim{ObjectMeta: m}, &corev1.PersistentVolumeClaimList{Items: []corev1.PersistentVolumeClaim{{ObjectMeta: m}}}},
		{&corev1.LimitRange{ObjectMeta: m}, &corev1.LimitRangeList{Items: []corev1.LimitRange{{ObjectMeta: m}}}},
		{&corev1.ResourceQuota{ObjectMeta: m}, &corev1.ResourceQuotaList{Items: []corev1.ResourceQuota{{ObjectMeta: m}}}},
		{&appsv1.Deployment{ObjectMeta: m}, &appsv1.DeploymentList{Items: []appsv1.Deployment{{ObjectMeta: m}}}},
		{&appsv1.ReplicaSet{ObjectMeta: m}, &appsv1.ReplicaSetList{Items: []appsv1.ReplicaSet{{ObjectMeta: m}}}},
		{&appsv1.StatefulSet{ObjectMeta: m}, &appsv1.StatefulSetList{Items: []appsv1.StatefulSet{{ObjectMeta: m}}}},
		{&appsv1.DaemonSet{ObjectMeta: m}, &appsv1.DaemonSetList{Items: []appsv1.DaemonSet{{ObjectMeta: m}}}},
		{&appsv1.ControllerRevision{ObjectMeta: m}, &appsv1.ControllerRevisionList{Items: []appsv1.ControllerRevision{{ObjectMeta: m}}}},
		{&batchv1.Job{ObjectMeta: m}, &batchv1.JobList{Items: []batchv1.Job{{ObjectMeta: m}}}},
		{&batchv1.CronJob{ObjectMeta: m}, &batchv1.CronJobList{Items: []batchv1.CronJob{{ObjectMeta: m}}}},
		{&coordinationv1.Lease{ObjectMeta: m}, &coordinationv1.LeaseList{Items: []coordinationv1.Lease{{ObjectMeta: m}}}},
		{&discoveryv1.EndpointSlice{ObjectMeta: m}, &discoveryv1.EndpointSliceList{Items: []discoveryv1.EndpointSlice{{ObjectMeta: m}}}},
		{&eventsv1.Event{ObjectMeta: m}, &eventsv1.EventList{Items: []eventsv1.Event{{ObjectMeta: m}}}},
		{&storagev1.StorageClass{ObjectMeta: m}, &storagev1.StorageClassList{Items: []storagev1.StorageClass{{ObjectMeta: m}}}},
		{&policyv1.PodDisruptionBudget{ObjectMeta: m}, &policyv1.PodDisruptionBudgetList{Items: []policyv1.PodDisruptionBudget{{ObjectMeta: m}}}},
	}
	for _, tt := range tests {
		t.Run(reflect.TypeOf(tt.list).Elem().Name(), func(t *testing.T) {
			single, list := tableOf(t, tt.item), tableOf(t, tt.list)
			if !reflect.DeepEqual(single.ColumnDefinitions, list.ColumnDefinitions) {
				t.Errorf("list columns differ from item columns:\n%v\n%v", list.ColumnDefinitions, single.ColumnDefinitions)
			}
			if len(list.Rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(list.Rows))
			}
			if !reflect.DeepEqual(single.Rows[0].Cells, list.Rows[0].Cells) {
				t.Errorf("list row %v differs from item row %v", list.Rows[0].Cells, single.Rows[0].Cells)
			}
			if reflect.TypeOf(list.Rows[0].Object.Object) != reflect.TypeOf(tt.item) {
				t.Errorf("list row carries a %T, want a %T", list.Rows[0].Object.Object, tt.item)
			}
		})
	}
}
