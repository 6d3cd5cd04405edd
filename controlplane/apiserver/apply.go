package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/kindlike/kindlike/controlplane/registry"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/applyconfigurations"
	"sigs.k8s.io/structured-merge-diff/v4/fieldpath"
	"sigs.k8s.io/yaml"
)

// Server-side apply follows Kubernetes with one economy: managedFields are kept on
// objects that have been applied to (and from then on tracked through every write),
// not on every object, so ordinary writes stay cheap.

// typeConverter knows the structure of every built-in type, as client-go ships it.
var typeConverter = sync.OnceValue(func() managedfields.TypeConverter {
	return applyconfigurations.NewTypeConverter(registry.Scheme)
})

// fieldManagers are made once per resource, on first use.
type fieldManagers struct {
	mu sync.Mutex
	m  map[*registry.Resource]*managedfields.FieldManager
}

func (f *fieldManagers) get(res *registry.Resource) (*managedfields.FieldManager, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fm, ok := f.m[res]; ok {
		return fm, nil
	}
	var reset map[fieldpath.APIVersion]fieldpath.Filter
	if res.HasSubresource(registry.Status) {
		// The status is the status writer's: apply to the main resource never owns it.
		reset = map[fieldpath.APIVersion]fieldpath.Filter{
			fieldpath.APIVersion(res.GroupVersion().String()): fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("status"))),
		}
	}
	fm, err := managedfields.NewDefaultFieldManager(typeConverter(), registry.Scheme, strategyDefaulter{res}, registry.Scheme,
		res.GVK(), res.GroupVersion(), "", reset)
	if err != nil {
		return nil, err
	}
	if f.m == nil {
		f.m = map[*registry.Resource]*managedfields.FieldManager{}
	}
	f.m[res] = fm
	return fm, nil
}

// strategyDefaulter applies a resource's defaults, for the field manager.
type strategyDefaulter struct{ res *registry.Resource }

func (d strategyDefaulter) Default(obj runtime.Object) {
	if d.res.Strategy.Default != nil {
		d.res.Strategy.Default(obj)
	}
}

type managerKey struct{}

// withManager records in the request's context who is writing: the fieldManager
// parameter, else the client's name from its User-Agent, as kube-apiserver derives it.
func withManager(r *http.Request) *http.Request {
	manager := r.URL.Query().Get("fieldManager")
	if manager == "" {
		manager, _, _ = strings.Cut(r.UserAgent(), "/")
	}
	return r.WithContext(context.WithValue(r.Context(), managerKey{}, manager))
}

func managerFrom(ctx context.Context) string {
	m, _ := ctx.Value(managerKey{}).(string)
	return m
}

// trackManagedFields updates the managedFields of an object that has them, so later
// applies see who owns what after ordinary writes too.
func (s *Server) trackManagedFields(ctx context.Context, res *registry.Resource, sub string, obj, old runtime.Object) runtime.Object {
	if sub != "" && sub != registry.Scale {
		return obj
	}
	om, err := meta.Accessor(old)
	if err != nil || len(om.GetManagedFields()) == 0 {
		return obj
	}
	fm, err := s.managers.get(res)
	if err != nil {
		return obj
	}
	obj.GetObjectKind().SetGroupVersionKind(res.GVK())
	old.GetObjectKind().SetGroupVersionKind(res.GVK())
	return fm.UpdateNoErrors(old, obj, managerFrom(ctx))
}

// serveApply answers a PATCH of type application/apply-patch+yaml: server-side apply.
func (s *Server) serveApply(w http.ResponseWriter, r *http.Request, t target, sub string, out output, opts *metav1.PatchOptions, patch []byte, dry bool) {
	if sub != "" {
		writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("server-side apply to the %s subresource is not supported by kindlike; apply to the resource itself", sub)))
		return
	}
	if opts.FieldManager == "" {
		writeError(w, r, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "PatchOptions"}, "",
			field.ErrorList{field.Required(field.NewPath("fieldManager"), "is required for apply patch")}))
		return
	}
	applied, err := decodeApplied(t, patch)
	if err != nil {
		writeError(w, r, err)
		return
	}
	fm, err := s.managers.get(t.res)
	if err != nil {
		writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	force := opts.Force != nil && *opts.Force
	apply := func(live runtime.Object) (runtime.Object, error) {
		live.GetObjectKind().SetGroupVersionKind(t.res.GVK())
		obj, err := fm.Apply(live, applied.DeepCopy(), opts.FieldManager, force)
		if err != nil {
			if apierrors.IsConflict(err) || apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) {
				return nil, err
			}
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return obj, nil
	}
	for attempt := 0; attempt < 2; attempt++ {
		updated, err := s.update(r.Context(), t.res, sub, t.namespace, t.name, apply, dry)
		if err == nil {
			s.writeObjects(w, r, http.StatusOK, out, t.res, updated, nil, 0)
			return
		}
		if !apierrors.IsNotFound(err) {
			writeError(w, r, err)
			return
		}
		obj, err := apply(t.res.New())
		if err != nil {
			writeError(w, r, err)
			return
		}
		created, err := s.create(r.Context(), t.res, t.namespace, obj, dry)
		if apierrors.IsAlreadyExists(err) {
			continue // created meanwhile: apply to it
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		s.writeObjects(w, r, http.StatusCreated, out, t.res, created, nil, 0)
		return
	}
	writeError(w, r, apierrors.NewConflict(schema.GroupResource{Group: t.res.Group, Resource: t.res.Resource}, t.name, fmt.Errorf("%s", conflictMessage)))
}

// decodeApplied reads an apply configuration and checks it names the target.
func decodeApplied(t target, patch []byte) (*unstructured.Unstructured, error) {
	js, err := yaml.YAMLToJSON(patch)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding apply configuration: %v", err))
	}
	if gvk := u.GroupVersionKind(); gvk != t.res.GVK() {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the apply configuration is a %s, the request is for %s", gvk, t.res.GVK()))
	}
	if u.GetName() != t.name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", u.GetName(), t.name))
	}
	if ns := u.GetNamespace(); ns != "" && t.res.Namespaced && ns != t.namespace {
		return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	return u, nil
}
