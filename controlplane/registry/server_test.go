package registry

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// What the generic API server does around a Strategy, reduced to what these tests need:
// the order of the calls, the server-owned metadata, and the status/spec carry-over.

// fixedNow stands in for the clock in every test.
var fixedNow = metav1.NewTime(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))

func init() { now = func() metav1.Time { return fixedNow } }

const testUID = types.UID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")

// createObject runs a create as the server does: default, server metadata, prepare,
// validate. It returns the validation errors, the server's ObjectMeta checks first.
func createObject(t *testing.T, r *Resource, obj runtime.Object) field.ErrorList {
	t.Helper()
	s := r.Strategy
	if s.Default != nil {
		s.Default(obj)
	}
	meta := objectMeta(t, obj)
	if r.Namespaced && meta.Namespace == "" {
		meta.Namespace = "default"
	}
	meta.UID = testUID
	meta.CreationTimestamp = fixedNow
	if r.Generation {
		meta.Generation = 1
	}
	if s.PrepareForCreate != nil {
		s.PrepareForCreate(obj)
	}
	errs := validateMeta(r, meta)
	if s.Validate != nil {
		errs = append(errs, s.Validate(obj)...)
	}
	return errs
}

// updateObject runs an update of the main resource: default, keep old status, prepare,
// validate.
func updateObject(t *testing.T, r *Resource, obj, old runtime.Object) field.ErrorList {
	t.Helper()
	s := r.Strategy
	if s.Default != nil {
		s.Default(obj)
	}
	meta, oldMeta := objectMeta(t, obj), objectMeta(t, old)
	meta.Namespace, meta.UID, meta.CreationTimestamp, meta.Generation = oldMeta.Namespace, oldMeta.UID, oldMeta.CreationTimestamp, oldMeta.Generation
	if r.HasSubresource(Status) {
		copyField(t, obj, old, "Status")
	}
	if s.PrepareForUpdate != nil {
		s.PrepareForUpdate(obj, old)
	}
	var errs field.ErrorList
	if s.ValidateUpdate != nil {
		errs = append(errs, s.ValidateUpdate(obj, old)...)
	}
	return errs
}

// updateStatus runs an update of the status subresource: keep old spec, prepare,
// validate.
func updateStatus(t *testing.T, r *Resource, obj, old runtime.Object) field.ErrorList {
	t.Helper()
	s := r.Strategy
	if s.Default != nil {
		s.Default(obj)
	}
	copyField(t, obj, old, "Spec")
	if s.PrepareForStatusUpdate != nil {
		s.PrepareForStatusUpdate(obj, old)
	}
	if s.ValidateStatusUpdate == nil {
		return nil
	}
	return s.ValidateStatusUpdate(obj, old)
}

func objectMeta(t *testing.T, obj runtime.Object) *metav1.ObjectMeta {
	t.Helper()
	m, ok := obj.(interface{ GetObjectMeta() metav1.Object })
	if !ok {
		t.Fatalf("%T has no ObjectMeta", obj)
	}
	om, ok := m.GetObjectMeta().(*metav1.ObjectMeta)
	if !ok {
		t.Fatalf("%T: unexpected ObjectMeta type", obj)
	}
	return om
}

func validateMeta(r *Resource, meta *metav1.ObjectMeta) field.ErrorList {
	nameFn := apimachineryvalidation.NameIsDNSSubdomain
	switch {
	case r.NameIsDNS1035:
		nameFn = apimachineryvalidation.NameIsDNS1035Label
	case r.NameIsLabel:
		nameFn = apimachineryvalidation.NameIsDNSLabel
	}
	return apimachineryvalidation.ValidateObjectMeta(meta, r.Namespaced, nameFn, field.NewPath("metadata"))
}

// decodeFile reads every document of a manifest, typed by the registry's scheme.
func decodeFile(t *testing.T, path string) []runtime.Object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []runtime.Object
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := reader.Read()
		if err != nil {
			break
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, _, err := Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: decode: %v", path, err)
		}
		out = append(out, obj)
	}
	return out
}

// decodeYAML reads one object.
func decodeYAML[T runtime.Object](t *testing.T, doc string) T {
	t.Helper()
	obj, _, err := Codecs.UniversalDeserializer().Decode([]byte(strings.TrimSpace(doc)), nil, nil)
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, doc)
	}
	typed, ok := obj.(T)
	if !ok {
		t.Fatalf("decoded %T", obj)
	}
	return typed
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

func resourceFor(t *testing.T, obj runtime.Object) *Resource {
	t.Helper()
	r, ok := ForKind(obj.GetObjectKind().GroupVersionKind())
	if !ok {
		t.Fatalf("no resource serves %s", obj.GetObjectKind().GroupVersionKind())
	}
	return r
}

func scenarioFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "scenarios", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	return files
}

// scenarioObject returns the named object of a scenario file.
func scenarioObject[T runtime.Object](t *testing.T, file, name string) T {
	t.Helper()
	for _, obj := range decodeFile(t, filepath.Join("testdata", "scenarios", file)) {
		if typed, ok := obj.(T); ok && objectMeta(t, obj).Name == name {
			return typed
		}
	}
	var zero T
	t.Fatalf("%s: no %T named %s", file, zero, name)
	return zero
}

// errorStrings renders an error list as kube-apiserver prints its causes.
func errorStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func checkErrors(t *testing.T, got field.ErrorList, want []string) {
	t.Helper()
	strs := errorStrings(got)
	for i := range strs {
		strs[i] = maskQuantities(strs[i])
	}
	if diff := cmp.Diff(want, strs); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

// copyField sets obj's named top-level field to old's, as the server carries status (or
// spec) over on updates.
func copyField(t *testing.T, obj, old runtime.Object, name string) {
	t.Helper()
	dst := reflect.ValueOf(obj).Elem().FieldByName(name)
	src := reflect.ValueOf(old.DeepCopyObject()).Elem().FieldByName(name)
	if !dst.IsValid() || !src.IsValid() {
		return
	}
	dst.Set(src)
}

var pointerRE = regexp.MustCompile(`\(0x[0-9a-f]+\)`)

// maskPointers hides the addresses %#v prints for pointer fields.
func maskPointers(s string) string { return pointerRE.ReplaceAllString(s, "(0xPTR)") }

var quantityRE = regexp.MustCompile(`resource\.Quantity\{i:resource\.int64Amount\{value:-?\d+, scale:-?\d+\}, d:resource\.infDecAmount\{Dec:\(\*inf\.Dec\)\(nil\)\}, s:"[^"]*", Format:"\w+"\}`)

// maskQuantities hides how %#v prints a resource.Quantity (its cached string comes and
// goes), as kube-apiserver prints the ones it reports.
func maskQuantities(s string) string { return quantityRE.ReplaceAllString(s, "resource.Quantity{...}") }
