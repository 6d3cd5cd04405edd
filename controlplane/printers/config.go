package printers

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var configMapColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Data", "string", corev1.ConfigMap{}.SwaggerDoc()["data"]),
	ageColumn,
}

func configMapRow(cm *corev1.ConfigMap, now time.Time) (metav1.TableRow, error) {
	return cells(cm.Name, int64(len(cm.Data)+len(cm.BinaryData)), since(cm.CreationTimestamp, now))
}

var secretColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Type", "string", corev1.Secret{}.SwaggerDoc()["type"]),
	column("Data", "string", corev1.Secret{}.SwaggerDoc()["data"]),
	ageColumn,
}

func secretRow(s *corev1.Secret, now time.Time) (metav1.TableRow, error) {
	// stringData is write-only and merged into data on write; should any be left, it
	// counts as data, as it does once kube converts a v1 Secret.
	keys := len(s.Data)
	for k := range s.StringData {
		if _, ok := s.Data[k]; !ok {
			keys++
		}
	}
	return cells(s.Name, string(s.Type), int64(keys), since(s.CreationTimestamp, now))
}

var serviceAccountColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Secrets", "string", corev1.ServiceAccount{}.SwaggerDoc()["secrets"]),
	ageColumn,
}

func serviceAccountRow(sa *corev1.ServiceAccount, now time.Time) (metav1.TableRow, error) {
	return cells(sa.Name, int64(len(sa.Secrets)), since(sa.CreationTimestamp, now))
}
