package printers

import (
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var leaseColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Holder", "string", coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]),
	ageColumn,
}

func leaseRow(l *coordinationv1.Lease, now time.Time) (metav1.TableRow, error) {
	holder := ""
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	return cells(l.Name, holder, since(l.CreationTimestamp, now))
}
