package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func microAgo(d time.Duration) metav1.MicroTime { return metav1.NewMicroTime(now.Add(-d)) }

func TestCoreEventRows(t *testing.T) {
	tests := []struct {
		name  string
		event corev1.Event
		want  []any // LAST SEEN TYPE REASON OBJECT SUBOBJECT SOURCE MESSAGE FIRST SEEN COUNT NAME
	}{
		{
			name: "repeated kubelet event",
			event: corev1.Event{
				ObjectMeta: objMeta("web-0.17f3a2b4c5d6e7f8", 10*time.Minute),
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-0",
					FieldPath: "spec.containers{web}"},
				Reason: "BackOff", Message: "Back-off restarting failed container web in pod web-0_default(1234)\n",
				Source:         corev1.EventSource{Component: "kubelet", Host: "kindlike-worker"},
				FirstTimestamp: ago(10 * time.Minute), LastTimestamp: ago(2 * time.Minute), Count: 5,
				Type: corev1.EventTypeWarning,
			},
			want: []any{"2m", "Warning", "BackOff", "pod/web-0", "spec.containers{web}", "kubelet, kindlike-worker",
				"Back-off restarting failed container web in pod web-0_default(1234)", "10m", int64(5), "web-0.17f3a2b4c5d6e7f8"},
		},
		{
			name: "scheduler event of the newer API: event time, reporting controller",
			event: corev1.Event{
				ObjectMeta:     objMeta("web-0.17f3a2b4c5000000", time.Minute),
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-0"},
				Reason:         "Scheduled", Message: "Successfully assigned default/web-0 to kindlike-worker",
				ReportingController: "default-scheduler", ReportingInstance: "",
				EventTime: microAgo(time.Minute), Type: corev1.EventTypeNormal,
			},
			want: []any{"60s", "Normal", "Scheduled", "pod/web-0", "", "default-scheduler",
				"Successfully assigned default/web-0 to kindlike-worker", "60s", int64(1), "web-0.17f3a2b4c5000000"},
		},
		{
			name: "series of the newer API",
			event: corev1.Event{
				ObjectMeta:     objMeta("kindlike-worker.1", time.Hour),
				InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "kindlike-worker"},
				Reason:         "NodeNotReady", Message: "Node kindlike-worker status is now: NodeNotReady",
				ReportingController: "node-controller", ReportingInstance: "kindlike-control-plane",
				EventTime: microAgo(time.Hour), Count: 2, Type: corev1.EventTypeNormal,
				Series: &corev1.EventSeries{Count: 4, LastObservedTime: microAgo(30 * time.Second)},
			},
			want: []any{"30s", "Normal", "NodeNotReady", "node/kindlike-worker", "", "node-controller, kindlike-control-plane",
				"Node kindlike-worker status is now: NodeNotReady", "60m", int64(4), "kindlike-worker.1"},
		},
		{
			name: "no last timestamp: last seen is first seen; unnamed object",
			event: corev1.Event{
				ObjectMeta:     objMeta("cluster.1", time.Hour),
				InvolvedObject: corev1.ObjectReference{Kind: "Cluster"},
				Reason:         "Started", Source: corev1.EventSource{Component: "kindlike"},
				FirstTimestamp: ago(3 * time.Minute), Count: 1, Type: corev1.EventTypeNormal,
			},
			want: []any{"3m", "Normal", "Started", "cluster", "", "kindlike", "", "3m", int64(1), "cluster.1"},
		},
		{
			name: "no times at all",
			event: corev1.Event{
				ObjectMeta:     objMeta("odd.1", time.Hour),
				InvolvedObject: corev1.ObjectReference{Kind: "ConfigMap", Name: "settings"},
				Reason:         "Odd", Message: "  nothing to see  ",
				Source: corev1.EventSource{Host: "kindlike-worker"}, ReportingController: "someone",
			},
			want: []any{"<unknown>", "", "Odd", "configmap/settings", "", "someone, kindlike-worker", "nothing to see",
				"<unknown>", int64(1), "odd.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCells(t, eventColumns, cellsOf(t, &tt.event), tt.want)
		})
	}
}

func TestEventsV1EventRows(t *testing.T) {
	// An event written through events.k8s.io/v1 by a new-style recorder.
	modern := &eventsv1.Event{
		ObjectMeta:          objMeta("web-0.17f3a2b4c5111111", 5*time.Minute),
		EventTime:           microAgo(5 * time.Minute),
		Series:              &eventsv1.EventSeries{Count: 3, LastObservedTime: microAgo(20 * time.Second)},
		ReportingController: "kubelet", ReportingInstance: "kindlike-worker",
		Action: "Pulling", Reason: "Pulled", Type: "Normal",
		Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-0", FieldPath: "spec.containers{web}"},
		Note:      "Container image \"nginx:1.27\" already present on machine",
	}
	checkCells(t, eventColumns, cellsOf(t, modern), []any{"20s", "Normal", "Pulled", "pod/web-0", "spec.containers{web}",
		"kubelet, kindlike-worker", "Container image \"nginx:1.27\" already present on machine", "5m", int64(3),
		"web-0.17f3a2b4c5111111"})

	// A core event read through events.k8s.io/v1: its old fields come back as deprecated ones.
	legacy := &eventsv1.Event{
		ObjectMeta:               objMeta("web.1", time.Hour),
		Reason:                   "ScalingReplicaSet",
		Type:                     "Normal",
		Regarding:                corev1.ObjectReference{Kind: "Deployment", Namespace: "default", Name: "web"},
		Note:                     "Scaled up replica set web-7d4b9c8f6 to 3",
		DeprecatedSource:         corev1.EventSource{Component: "deployment-controller"},
		DeprecatedFirstTimestamp: ago(40 * time.Minute),
		DeprecatedLastTimestamp:  ago(4 * time.Minute),
		DeprecatedCount:          2,
	}
	checkCells(t, eventColumns, cellsOf(t, legacy), []any{"4m", "Normal", "ScalingReplicaSet", "deployment/web", "",
		"deployment-controller", "Scaled up replica set web-7d4b9c8f6 to 3", "40m", int64(2), "web.1"})

	list := &eventsv1.EventList{Items: []eventsv1.Event{*modern, *legacy}}
	table := tableOf(t, list)
	if len(table.Rows) != 2 || table.Rows[1].Object.Object != &list.Items[1] {
		t.Errorf("events.k8s.io list rows: %#v", table.Rows)
	}
}
