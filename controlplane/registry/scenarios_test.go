package registry

import (
	"path/filepath"
	"testing"
)

// Every tutorial manifest must be accepted as it is, as a real cluster accepts it.
func TestScenariosAreValid(t *testing.T) {
	for _, file := range scenarioFiles(t) {
		for _, obj := range decodeFile(t, file) {
			r := resourceFor(t, obj)
			name := objectMeta(t, obj).Name
			t.Run(filepath.Base(file)+"/"+r.Resource+"/"+name, func(t *testing.T) {
				if errs := createObject(t, r, obj); len(errs) != 0 {
					t.Fatalf("create: %v", errs.ToAggregate())
				}
				// Applying the same manifest again is an update that changes nothing.
				again := decodeFile(t, file)
				for _, o := range again {
					if resourceFor(t, o) == r && objectMeta(t, o).Name == name {
						if errs := updateObject(t, r, o, obj.DeepCopyObject()); len(errs) != 0 {
							t.Fatalf("re-apply: %v", errs.ToAggregate())
						}
					}
				}
			})
		}
	}
}
