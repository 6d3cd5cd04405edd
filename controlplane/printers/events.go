package printers

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// eventColumns serve core/v1 and events.k8s.io/v1 events alike: both are one resource in
// kube-apiserver, printed by one printer.
var eventColumns = []metav1.TableColumnDefinition{
	column("Last Seen", "string", corev1.Event{}.SwaggerDoc()["lastTimestamp"]),
	column("Type", "string", corev1.Event{}.SwaggerDoc()["type"]),
	column("Reason", "string", corev1.Event{}.SwaggerDoc()["reason"]),
	column("Object", "string", corev1.Event{}.SwaggerDoc()["involvedObject"]),
	wide("Subobject", "string", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]),
	wide("Source", "string", corev1.Event{}.SwaggerDoc()["source"]),
	column("Message", "string", corev1.Event{}.SwaggerDoc()["message"]),
	wide("First Seen", "string", corev1.Event{}.SwaggerDoc()["firstTimestamp"]),
	wide("Count", "string", corev1.Event{}.SwaggerDoc()["count"]),
	{Name: "Name", Type: "string", Format: "name", Priority: 1, Description: objectMetaDoc["name"]},
}

// event is what the event printer reads, whichever API version the event came in.
type event struct {
	name                             string
	typ, reason, message             string
	regarding                        corev1.ObjectReference
	source                           corev1.EventSource
	reportingController, reportingOn string
	first, last                      metav1.Time
	eventTime                        metav1.MicroTime
	count                            int32
	series                           *eventSeries
}

type eventSeries struct {
	count        int32
	lastObserved metav1.MicroTime
}

func coreEventRow(e *corev1.Event, now time.Time) (metav1.TableRow, error) {
	ev := event{
		name: e.Name, typ: e.Type, reason: e.Reason, message: e.Message,
		regarding: e.InvolvedObject, source: e.Source,
		reportingController: e.ReportingController, reportingOn: e.ReportingInstance,
		first: e.FirstTimestamp, last: e.LastTimestamp, eventTime: e.EventTime, count: e.Count,
	}
	if e.Series != nil {
		ev.series = &eventSeries{count: e.Series.Count, lastObserved: e.Series.LastObservedTime}
	}
	return eventRow(ev, now)
}

// eventsV1EventRow reads an events.k8s.io/v1 Event through the same field mapping kube
// uses to store it as a core Event.
func eventsV1EventRow(e *eventsv1.Event, now time.Time) (metav1.TableRow, error) {
	ev := event{
		name: e.Name, typ: e.Type, reason: e.Reason, message: e.Note,
		regarding: e.Regarding, source: e.DeprecatedSource,
		reportingController: e.ReportingController, reportingOn: e.ReportingInstance,
		first: e.DeprecatedFirstTimestamp, last: e.DeprecatedLastTimestamp, eventTime: e.EventTime,
		count: e.DeprecatedCount,
	}
	if e.Series != nil {
		ev.series = &eventSeries{count: e.Series.Count, lastObserved: e.Series.LastObservedTime}
	}
	return eventRow(ev, now)
}

// eventRow prints an event. Events of the newer API carry eventTime and series instead of
// first/last timestamps and count; kube falls back on those, and counts a lone event as 1.
func eventRow(e event, now time.Time) (metav1.TableRow, error) {
	first := since(e.first, now)
	if e.first.IsZero() {
		first = sinceMicro(e.eventTime, now)
	}
	last := since(e.last, now)
	if e.last.IsZero() {
		last = first
	}
	count := e.count
	if e.series != nil {
		last = sinceMicro(e.series.lastObserved, now)
		count = e.series.count
	} else if count == 0 {
		count = 1
	}

	object := strings.ToLower(e.regarding.Kind)
	if e.regarding.Name != "" {
		object += "/" + e.regarding.Name
	}

	return cells(
		last,
		e.typ,
		e.reason,
		object,
		e.regarding.FieldPath,
		eventSource(e),
		strings.TrimSpace(e.message),
		first,
		int64(count),
		e.name,
	)
}

// eventSource is the SOURCE cell, "component, host", falling back on the reporting
// controller and instance of newer events.
func eventSource(e event) string {
	component := e.source.Component
	if component == "" {
		component = e.reportingController
	}
	host := e.source.Host
	if host == "" {
		host = e.reportingOn
	}
	if host == "" {
		return component
	}
	return component + ", " + host
}
