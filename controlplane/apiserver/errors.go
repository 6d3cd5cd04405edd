package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/kindlike/kindlike/controlplane/registry"
	"github.com/kindlike/kindlike/controlplane/store"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// storeError turns a store error about one object of res into the Status a
// kube-apiserver would answer with.
func storeError(res *registry.Resource, name string, err error) error {
	gr := schema.GroupResource{Group: res.Group, Resource: res.Resource}
	var se apierrors.APIStatus
	switch {
	case errors.As(err, &se):
		return err
	case errors.Is(err, store.ErrNotFound):
		return apierrors.NewNotFound(gr, name)
	case errors.Is(err, store.ErrExists):
		return apierrors.NewAlreadyExists(gr, name)
	case errors.Is(err, store.ErrConflict):
		return apierrors.NewConflict(gr, name, errors.New(conflictMessage))
	case errors.Is(err, store.ErrNoLeader):
		return noLeader()
	case errors.Is(err, context.DeadlineExceeded):
		return apierrors.NewTimeoutError(fmt.Sprintf("request did not complete within the allowed duration: %v", err), 1)
	case errors.Is(err, context.Canceled):
		return apierrors.NewTimeoutError("request was cancelled", 1)
	}
	return apierrors.NewInternalError(err)
}

const conflictMessage = "the object has been modified; please apply your changes to the latest version and try again"

// noLeader is the answer while the Raft group has no leader: 503 with Retry-After,
// which client-go retries by itself.
func noLeader() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusServiceUnavailable,
		Reason:  metav1.StatusReasonServiceUnavailable,
		Message: "the control plane has no Raft leader at the moment; retry shortly",
		Details: &metav1.StatusDetails{RetryAfterSeconds: 1},
	}}
}

// toStatus returns the Status to answer err with.
func toStatus(err error) *metav1.Status {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		st := se.Status()
		if st.Status == "" {
			st.Status = metav1.StatusFailure
		}
		if st.Code == 0 {
			st.Code = http.StatusInternalServerError
		}
		return &st
	}
	return toStatus(apierrors.NewInternalError(err))
}

func notFoundResource() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusNotFound,
		Reason:  metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource",
		Details: &metav1.StatusDetails{},
	}}
}

func methodNotSupported(res *registry.Resource, verb string) error {
	return apierrors.NewMethodNotSupported(schema.GroupResource{Group: res.Group, Resource: res.Resource}, verb)
}
