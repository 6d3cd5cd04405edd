package printers

import (
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// defaultColumns are those of kube-apiserver's default table convertor, which serves every
// resource without a printer of its own (limitranges among the built-in ones, and custom
// resources without additionalPrinterColumns). Its second column is CREATED AT, an RFC 3339
// UTC time, not an AGE.
var defaultColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Created At", "date", objectMetaDoc["creationTimestamp"]),
}

// defaultTable is the default Table of an object or a list of objects.
func defaultTable(obj runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{ColumnDefinitions: slices.Clone(defaultColumns)}
	add := func(item runtime.Object) error {
		m, err := meta.Accessor(item)
		if err != nil {
			return fmt.Errorf("print %T as a table: it has no object metadata", item)
		}
		table.Rows = append(table.Rows, metav1.TableRow{
			Cells:  []any{m.GetName(), m.GetCreationTimestamp().UTC().Format(time.RFC3339)},
			Object: runtime.RawExtension{Object: item},
		})
		return nil
	}
	if meta.IsListType(obj) {
		if err := meta.EachListItem(obj, add); err != nil {
			return nil, err
		}
		return table, nil
	}
	if err := add(obj); err != nil {
		return nil, err
	}
	return table, nil
}
