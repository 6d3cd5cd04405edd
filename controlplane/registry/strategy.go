package registry

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// now stamps the times rules set (condition and phase transitions); tests replace it.
var now = metav1.Now

// rules is a Strategy written against one concrete type, so each resource file states its
// rules without type assertions. Every field may be nil.
type rules[T runtime.Object] struct {
	Default                func(obj T)
	PrepareForCreate       func(obj T)
	PrepareForUpdate       func(obj, old T)
	PrepareForStatusUpdate func(obj, old T)
	Validate               func(obj T) field.ErrorList
	ValidateUpdate         func(obj, old T) field.ErrorList
	ValidateStatusUpdate   func(obj, old T) field.ErrorList
	Fields                 func(obj T) fields.Set
	// KubeFinalizers says metadata.finalizers without a domain must be one of the
	// standard names, as kube-apiserver checks for the core, apps, batch, storage and
	// discovery groups (on top of the generic ObjectMeta validation).
	KubeFinalizers bool
}

// set installs the rules as r's Strategy.
func (x rules[T]) set(r *Resource) {
	var s Strategy
	if x.Default != nil {
		s.Default = func(obj runtime.Object) { x.Default(cast[T](r, obj)) }
	}
	if x.PrepareForCreate != nil {
		s.PrepareForCreate = func(obj runtime.Object) { x.PrepareForCreate(cast[T](r, obj)) }
	}
	if x.PrepareForUpdate != nil {
		s.PrepareForUpdate = func(obj, old runtime.Object) { x.PrepareForUpdate(cast[T](r, obj), cast[T](r, old)) }
	}
	if x.PrepareForStatusUpdate != nil {
		s.PrepareForStatusUpdate = func(obj, old runtime.Object) {
			x.PrepareForStatusUpdate(cast[T](r, obj), cast[T](r, old))
		}
	}
	validate, validateUpdate := x.Validate, x.ValidateUpdate
	if x.KubeFinalizers {
		validate = withFinalizerNames(validate)
		validateUpdate = withFinalizerNamesOnUpdate(validateUpdate)
	}
	if validate != nil {
		s.Validate = func(obj runtime.Object) field.ErrorList { return validate(cast[T](r, obj)) }
	}
	if validateUpdate != nil {
		s.ValidateUpdate = func(obj, old runtime.Object) field.ErrorList {
			return validateUpdate(cast[T](r, obj), cast[T](r, old))
		}
	}
	if x.ValidateStatusUpdate != nil {
		s.ValidateStatusUpdate = func(obj, old runtime.Object) field.ErrorList {
			return x.ValidateStatusUpdate(cast[T](r, obj), cast[T](r, old))
		}
	}
	if x.Fields != nil {
		s.Fields = func(obj runtime.Object) fields.Set { return x.Fields(cast[T](r, obj)) }
	}
	r.Strategy = s
}

// cast is the one place a wrong object type is caught: the server decoded the request
// into r.New(), so anything else is a programming error.
func cast[T runtime.Object](r *Resource, obj runtime.Object) T {
	t, ok := obj.(T)
	if !ok {
		panic(fmt.Sprintf("registry: %s strategy called with %T", r.GVR(), obj))
	}
	return t
}

// standardFinalizers are the finalizer names kube-apiserver accepts without a domain.
var standardFinalizers = map[string]bool{"kubernetes": true, "orphan": true, "foregroundDeletion": true}

func validateKubeFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	if !strings.Contains(name, "/") && !standardFinalizers[name] {
		return field.ErrorList{field.Invalid(fldPath, name, "name is neither a standard finalizer name nor is it fully qualified")}
	}
	return nil
}

func metaFinalizerErrors(obj runtime.Object) field.ErrorList {
	acc, ok := obj.(interface{ GetFinalizers() []string })
	if !ok {
		return nil
	}
	var errs field.ErrorList
	for i, f := range acc.GetFinalizers() {
		errs = append(errs, validateKubeFinalizerName(f, field.NewPath("metadata", "finalizers").Index(i))...)
	}
	return errs
}

func withFinalizerNames[T runtime.Object](validate func(T) field.ErrorList) func(T) field.ErrorList {
	return func(obj T) field.ErrorList {
		errs := metaFinalizerErrors(obj)
		if validate != nil {
			errs = append(errs, validate(obj)...)
		}
		return errs
	}
}

func withFinalizerNamesOnUpdate[T runtime.Object](validate func(obj, old T) field.ErrorList) func(obj, old T) field.ErrorList {
	return func(obj, old T) field.ErrorList {
		errs := metaFinalizerErrors(obj)
		if validate != nil {
			errs = append(errs, validate(obj, old)...)
		}
		return errs
	}
}
