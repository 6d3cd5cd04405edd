package printers

import (
	"time"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var podDisruptionBudgetColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Min Available", "string", "The minimum number of pods that must be available."),
	column("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
	column("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
	ageColumn,
}

func podDisruptionBudgetRow(pdb *policyv1.PodDisruptionBudget, now time.Time) (metav1.TableRow, error) {
	return cells(
		pdb.Name,
		intOrPercent(pdb.Spec.MinAvailable),
		intOrPercent(pdb.Spec.MaxUnavailable),
		int64(pdb.Status.DisruptionsAllowed),
		since(pdb.CreationTimestamp, now),
	)
}

// intOrPercent prints a count or percentage ("2", "50%"), or N/A when unset.
func intOrPercent(v *intstr.IntOrString) string {
	if v == nil {
		return "N/A"
	}
	return v.String()
}
