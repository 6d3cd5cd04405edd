package nodeagent

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// Event reasons, as kubelet records them.
const (
	reasonPulling          = "Pulling"
	reasonPulled           = "Pulled"
	reasonFailed           = "Failed"
	reasonBackOff          = "BackOff"
	reasonCreated          = "Created"
	reasonStarted          = "Started"
	reasonKilling          = "Killing"
	reasonUnhealthy        = "Unhealthy"
	reasonNeverPull        = "ErrImageNeverPull"
	reasonFailedMount      = "FailedMount"
	reasonSandboxFailed    = "FailedCreatePodSandBox"
	reasonSandboxChanged   = "SandboxChanged"
	reasonPostStartFailed  = "FailedPostStartHook"
	reasonPreStopFailed    = "FailedPreStopHook"
	reasonInvalidEnvNames  = "InvalidEnvironmentVariableNames"
	reasonDeadlineExceeded = "DeadlineExceeded"
)

// Container waiting reasons, as kubelet reports them.
const (
	waitingCreating         = "ContainerCreating"
	waitingInitializing     = "PodInitializing"
	waitingCrashLoop        = "CrashLoopBackOff"
	waitingErrImagePull     = "ErrImagePull"
	waitingImagePullBackOff = "ImagePullBackOff"
	waitingNeverPull        = "ErrImageNeverPull"
	waitingConfigError      = "CreateContainerConfigError"
	waitingCreateError      = "CreateContainerError"
	waitingRunError         = "RunContainerError"
)

// newRecorder records events as "kubelet" on this node, as kubectl describe expects
// them, through the API.
func newRecorder(client kubernetes.Interface, node string) (record.EventRecorder, func()) {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	rec := b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: node})
	return rec, b.Shutdown
}

// containerRef points an event at one container of a pod.
func containerRef(pod *corev1.Pod, name string) *corev1.ObjectReference {
	ref := podRef(pod)
	path := "spec.containers{%s}"
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			path = "spec.initContainers{%s}"
		}
	}
	ref.FieldPath = fmt.Sprintf(path, name)
	return ref
}

func podRef(pod *corev1.Pod) *corev1.ObjectReference {
	return &corev1.ObjectReference{
		Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name,
		UID: pod.UID, ResourceVersion: pod.ResourceVersion,
	}
}

// podID names a pod in kubelet's messages: name_namespace(uid).
func podID(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}
