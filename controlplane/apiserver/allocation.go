package apiserver

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kindlike/kindlike/controlplane/registry"
	"github.com/kindlike/kindlike/controlplane/store"
)

// ServiceAllocator gives Services their cluster IPs and node ports (package allocation
// is the one implementation). What a Service holds is recorded under keys of its own in
// the store, written in the same transaction as the Service: the store, not the
// allocator, decides who gets an address, so two Services written at once through
// different members can never share one.
//
// The server calls Allocate after the Strategy's PrepareForCreate (PrepareForUpdate)
// and before its validation, so that validation sees the addresses the Service will
// have, as kube-apiserver allocates before it validates.
type ServiceAllocator interface {
	// Allocate fills in what svc needs and has not got (cluster IP, node ports, health
	// check node port) and checks what its user asked for against the ranges and the
	// claims this member knows of, answering in kube-apiserver's words. old is the
	// stored Service on update, nil on create.
	Allocate(ctx context.Context, svc, old *corev1.Service) (*Allocation, error)
	// Release returns the writes that free what svc holds, for the transaction that
	// removes it from the store.
	Release(ctx context.Context, svc *corev1.Service) ([]store.Op, error)
}

// Allocation is what one Service write claims and releases.
type Allocation struct {
	// Ops go into the transaction after the Service's own write.
	Ops []store.Op
	// Refused says what the refusal of the write under key means: the error for the
	// client, or again when the write should be prepared anew (a concurrent write took
	// an address the allocator chose, or changed a claim it releases).
	Refused func(key string) (err error, again bool)
}

// errAgain marks a transaction refused for a reason a fresh attempt avoids.
var errAgain = errors.New("allocation raced with another write; preparing the write again")

// allocate runs the service allocator on a Service write of the main resource.
func (s *Server) allocate(ctx context.Context, res *registry.Resource, obj, old runtime.Object) (*Allocation, error) {
	if s.services == nil || res != registry.Services {
		return nil, nil
	}
	svc := obj.(*corev1.Service)
	var oldSvc *corev1.Service
	if old != nil {
		oldSvc = old.(*corev1.Service)
	}
	return s.services.Allocate(ctx, svc, oldSvc)
}

// commit writes the object's own write with the allocation's writes in one
// transaction (alone, it is an ordinary single write). A refused allocation write
// becomes the allocator's error, or errAgain; a refusal of the object's own write is
// the store's error as Create, Update or Delete would give it.
func (s *Server) commit(ctx context.Context, own store.Op, alloc *Allocation) (store.Entry, error) {
	ops := []store.Op{own}
	if alloc != nil {
		ops = append(ops, alloc.Ops...)
	}
	entries, err := s.store.Txn(ctx, ops...)
	var te *store.TxnError
	if errors.As(err, &te) {
		if te.Index == 0 || alloc == nil {
			return store.Entry{}, te.Err
		}
		if alloc.Refused != nil {
			if rerr, again := alloc.Refused(te.Key); !again && rerr != nil {
				return store.Entry{}, rerr
			}
		}
		return store.Entry{}, errAgain
	}
	if err != nil {
		return store.Entry{}, err
	}
	return entries[0], nil
}

// release is the allocation a Service's removal frees; nil for other objects.
func (s *Server) release(ctx context.Context, res *registry.Resource, obj runtime.Object) (*Allocation, error) {
	if s.services == nil || res != registry.Services {
		return nil, nil
	}
	ops, err := s.services.Release(ctx, obj.(*corev1.Service))
	if err != nil {
		return nil, err
	}
	// A claim that changed since it was read is read again on the next attempt.
	return &Allocation{Ops: ops, Refused: func(string) (error, bool) { return nil, true }}, nil
}
