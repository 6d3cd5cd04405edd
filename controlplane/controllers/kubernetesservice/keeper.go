package kubernetesservice

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Keeper is every member's side: it renews the member's Lease, which tells the leader
// the member serves the API at its address.
type Keeper struct {
	client   kubernetes.Interface
	member   string
	address  netip.Addr
	duration time.Duration
	renew    time.Duration
	log      *slog.Logger
}

// NewKeeper keeps the Lease of member, serving at address, renewed every renew for
// duration.
func NewKeeper(client kubernetes.Interface, member string, address netip.Addr, duration, renew time.Duration, log *slog.Logger) *Keeper {
	return &Keeper{client: client, member: member, address: address, duration: duration, renew: renew, log: log}
}

// LeaseName is the name of a member's Lease in kube-system.
func LeaseName(member string) string { return LeasePrefix + member }

// Run renews the Lease until ctx ends, then deletes it, so that a member stopping on
// purpose leaves the kubernetes Service's endpoints at once rather than when its Lease
// expires, as kube-apiserver removes itself on shutdown.
func (k *Keeper) Run(ctx context.Context) {
	for {
		wait := k.renew
		if err := k.renewLease(ctx); err != nil && ctx.Err() == nil {
			// Before the cluster is up (no leader yet, kube-system not created) the
			// next try comes sooner, so the Service lists every member from the start.
			k.log.Debug("renewing the API server lease", "err", err)
			wait = min(wait, 500*time.Millisecond)
		}
		select {
		case <-ctx.Done():
			k.release()
			return
		case <-time.After(wait):
		}
	}
}

func (k *Keeper) renewLease(ctx context.Context) error {
	leases := k.client.CoordinationV1().Leases(metav1.NamespaceSystem)
	now := metav1.NewMicroTime(time.Now())
	l, err := leases.Get(ctx, LeaseName(k.member), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name: LeaseName(k.member), Namespace: metav1.NamespaceSystem,
				Labels:      map[string]string{IdentityLabel: IdentityValue, "kubernetes.io/hostname": k.member},
				Annotations: map[string]string{AddressAnnotation: k.address.String()},
			},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(k.member),
				LeaseDurationSeconds: ptr.To(int32((k.duration + time.Second - 1) / time.Second)),
				AcquireTime:          &now,
				RenewTime:            &now,
			},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	l.Spec.RenewTime = &now
	l.Spec.HolderIdentity = ptr.To(k.member)
	l.Spec.LeaseDurationSeconds = ptr.To(int32((k.duration + time.Second - 1) / time.Second))
	if l.Annotations == nil {
		l.Annotations = map[string]string{}
	}
	l.Annotations[AddressAnnotation] = k.address.String()
	if l.Labels == nil {
		l.Labels = map[string]string{}
	}
	l.Labels[IdentityLabel] = IdentityValue
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	return err
}

// release deletes the Lease, briefly: a member without a quorum cannot, and its Lease
// then expires.
func (k *Keeper) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := k.client.CoordinationV1().Leases(metav1.NamespaceSystem).Delete(ctx, LeaseName(k.member), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		k.log.Debug("deleting the API server lease on the way out", "err", err)
	}
}
