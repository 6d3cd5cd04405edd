package ttlafterfinished

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

func TestExpiry(t *testing.T) {
	finishedAt := time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)
	job := func(ttl *int32, cond batchv1.JobConditionType) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "default", UID: "u", ResourceVersion: "7"},
			Spec: batchv1.JobSpec{TTLSecondsAfterFinished: ttl}}
		if cond != "" {
			j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(finishedAt)}}
		}
		return j
	}
	tests := []struct {
		name        string
		job         *batchv1.Job
		after       time.Duration
		wantDeleted bool
	}{
		{"no ttl", job(nil, batchv1.JobComplete), time.Hour, false},
		{"running", job(ptr.To[int32](0), ""), time.Hour, false},
		{"not yet", job(ptr.To[int32](60), batchv1.JobComplete), 59 * time.Second, false},
		{"expired", job(ptr.To[int32](60), batchv1.JobComplete), 60 * time.Second, true},
		{"failed jobs expire too", job(ptr.To[int32](0), batchv1.JobFailed), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewSimpleClientset(tt.job)
			var policy *metav1.DeletionPropagation
			client.PrependReactor("delete", "jobs", func(a clienttesting.Action) (bool, runtime.Object, error) {
				policy = a.(clienttesting.DeleteAction).GetDeleteOptions().PropagationPolicy
				return false, nil, nil
			})
			factory := informers.NewSharedInformerFactory(client, 0)
			c, err := New(client, factory.Batch().V1().Jobs(), slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			c.now = func() time.Time { return finishedAt.Add(tt.after) }
			_ = factory.Batch().V1().Jobs().Informer().GetStore().Add(tt.job)
			if err := c.sync(context.Background(), "default/j"); err != nil {
				t.Fatal(err)
			}
			_, err = client.BatchV1().Jobs("default").Get(context.Background(), "j", metav1.GetOptions{})
			if deleted := apierrors.IsNotFound(err); deleted != tt.wantDeleted {
				t.Fatalf("deleted = %v, want %v", deleted, tt.wantDeleted)
			}
			if tt.wantDeleted && ptr.Deref(policy, "") != metav1.DeletePropagationBackground {
				t.Errorf("propagation policy %v, want Background", policy)
			}
		})
	}
}
