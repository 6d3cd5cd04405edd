package registry

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// An event as client-go's events.k8s.io recorder writes it.
func schedulerEvent() *eventsv1.Event {
	return &eventsv1.Event{
		TypeMeta:            metav1.TypeMeta{APIVersion: "events.k8s.io/v1", Kind: "Event"},
		ObjectMeta:          metav1.ObjectMeta{Name: "twocontainers.17f5a3b2c1d0e9f8", Namespace: "default"},
		EventTime:           metav1.NewMicroTime(fixedNow.Time),
		ReportingController: "default-scheduler",
		ReportingInstance:   "default-scheduler-kindlike-control-plane",
		Action:              "Binding",
		Reason:              "Scheduled",
		Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "twocontainers", UID: testUID, APIVersion: "v1", ResourceVersion: "42"},
		Note:                "Successfully assigned default/twocontainers to kindlike-worker",
		Type:                corev1.EventTypeNormal,
	}
}

func TestEventConversion(t *testing.T) {
	ev := schedulerEvent()
	ev.Related = &corev1.ObjectReference{Kind: "Node", Name: "kindlike-worker"}
	ev.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(fixedNow.Time)}
	ev.DeprecatedSource = corev1.EventSource{Component: "default-scheduler"}
	ev.DeprecatedCount = 2
	stored, err := EventsV1.ToStored(ev)
	if err != nil {
		t.Fatal(err)
	}
	core := stored.(*corev1.Event)
	want := &corev1.Event{
		TypeMeta:            metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
		ObjectMeta:          ev.ObjectMeta,
		InvolvedObject:      ev.Regarding,
		Reason:              "Scheduled",
		Message:             ev.Note,
		Source:              corev1.EventSource{Component: "default-scheduler"},
		Count:               2,
		Type:                corev1.EventTypeNormal,
		EventTime:           ev.EventTime,
		Series:              &corev1.EventSeries{Count: 2, LastObservedTime: ev.Series.LastObservedTime},
		Action:              "Binding",
		Related:             &corev1.ObjectReference{Kind: "Node", Name: "kindlike-worker"},
		ReportingController: "default-scheduler",
		ReportingInstance:   "default-scheduler-kindlike-control-plane",
	}
	if diff := cmp.Diff(want, core); diff != "" {
		t.Errorf("stored event (-want +got):\n%s", diff)
	}
	back, err := EventsV1.FromStored(core)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ev, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}

	// An event a kubelet wrote through core/v1 reads back with its deprecated fields.
	legacy := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "twocontainers.1", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "twocontainers", Namespace: "default", FieldPath: "spec.containers{sise}"},
		Reason:         "Pulled", Message: "Container image already present on machine",
		Source:         corev1.EventSource{Component: "kubelet", Host: "kindlike-worker"},
		FirstTimestamp: fixedNow, LastTimestamp: fixedNow, Count: 1, Type: corev1.EventTypeNormal,
	}
	v1ev, _ := EventsV1.FromStored(legacy)
	got := v1ev.(*eventsv1.Event)
	if got.Note != legacy.Message || got.DeprecatedSource.Host != "kindlike-worker" || got.DeprecatedCount != 1 ||
		!got.DeprecatedFirstTimestamp.Equal(&fixedNow) || got.Regarding.FieldPath != "spec.containers{sise}" {
		t.Errorf("legacy event as events.k8s.io/v1: %+v", got)
	}
	if _, err := EventsV1.ToStored(legacy); err == nil {
		t.Errorf("ToStored took a core/v1 event")
	}
}

func TestEventsV1Validation(t *testing.T) {
	checkErrors(t, createObject(t, EventsV1, schedulerEvent()), nil)

	bad := schedulerEvent()
	bad.EventTime = metav1.MicroTime{}
	bad.ReportingController = ""
	bad.Type = "Info"
	bad.DeprecatedCount = 3
	bad.Series = &eventsv1.EventSeries{Count: 1}
	// Without an eventTime the event is judged as a legacy one first.
	checkErrors(t, createObject(t, EventsV1, bad), []string{
		`series.count: Invalid value: "": should be at least 2`,
		"series.lastObservedTime: Required value",
		"eventTime: Required value",
		`type: Invalid value: "": has invalid value: Info`,
		`count: Invalid value: "": needs to be unset`,
	})

	bad = schedulerEvent()
	bad.ReportingController = ""
	bad.Action = ""
	bad.Regarding.Namespace = ""
	bad.Namespace = "demo"
	checkErrors(t, createObject(t, EventsV1, bad), []string{
		`involvedObject.namespace: Invalid value: "": does not match event.namespace`,
		"reportingController: Required value",
		`reportingController: Invalid value: "": name part must be non-empty`,
		`reportingController: Invalid value: "": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
		"action: Required value",
	})

	// Only the series may change.
	old := schedulerEvent()
	createObject(t, EventsV1, old)
	repeated := old.DeepCopy()
	repeated.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(fixedNow.Add(5e9))}
	checkErrors(t, updateObject(t, EventsV1, repeated, old), nil)
	rewritten := old.DeepCopy()
	rewritten.Note = "something else"
	checkErrors(t, updateObject(t, EventsV1, rewritten, old), []string{
		`message: Invalid value: "something else": field is immutable`,
	})

	want := fields.Set{
		"regarding.kind": "Pod", "regarding.namespace": "default", "regarding.name": "twocontainers", "regarding.uid": string(testUID),
		"regarding.apiVersion": "v1", "regarding.resourceVersion": "42", "regarding.fieldPath": "",
		"reason": "Scheduled", "reportingController": "default-scheduler", "type": "Normal",
	}
	if diff := cmp.Diff(want, EventsV1.Strategy.Fields(old)); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestCoreEventValidation(t *testing.T) {
	// What kubectl describe shows come from events like this one.
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "twocontainers.1", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "twocontainers", Namespace: "default"},
		Reason:         "Started", Message: "Started container sise",
		Source:         corev1.EventSource{Component: "kubelet", Host: "kindlike-worker"},
		FirstTimestamp: fixedNow, LastTimestamp: fixedNow, Count: 1, Type: corev1.EventTypeNormal,
	}
	checkErrors(t, createObject(t, Events, ev.DeepCopy()), nil)
	wrongNS := ev.DeepCopy()
	wrongNS.Namespace = "demo"
	checkErrors(t, createObject(t, Events, wrongNS), []string{`involvedObject.namespace: Invalid value: "default": does not match event.namespace`})
	// A core/v1 event with an eventTime must say who reported it, under core/v1's names.
	newStyle := ev.DeepCopy()
	newStyle.EventTime = metav1.NewMicroTime(fixedNow.Time)
	newStyle.ReportingInstance = "kindlike-worker"
	newStyle.Action = "Started"
	errs := errorStrings(createObject(t, Events, newStyle))
	if len(errs) == 0 || errs[0] != "reportingComponent: Required value" {
		t.Errorf("errors %q", errs)
	}
	// Updates of core/v1 events (a count that grows) are free.
	counted := ev.DeepCopy()
	counted.Count = 2
	checkErrors(t, updateObject(t, Events, counted, ev), nil)

	want := fields.Set{
		"involvedObject.kind": "Pod", "involvedObject.namespace": "default", "involvedObject.name": "twocontainers",
		"involvedObject.uid": "", "involvedObject.apiVersion": "", "involvedObject.resourceVersion": "", "involvedObject.fieldPath": "",
		"reason": "Started", "reportingComponent": "", "source": "kubelet", "type": "Normal",
	}
	if diff := cmp.Diff(want, Events.Strategy.Fields(ev)); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}
