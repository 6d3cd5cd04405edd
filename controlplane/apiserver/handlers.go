package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/kindlike/kindlike/controlplane/registry"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// serveResource answers every request under /api/v1/... and /apis/{g}/{v}/... that
// names a resource.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, gv schema.GroupVersion, segs []string) {
	r = withManager(r)
	t, err := parseTarget(gv, segs)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if t.subresource != "" {
		s.serveSubresource(w, r, t)
		return
	}
	ctx := r.Context()
	switch {
	case r.Method == http.MethodGet && t.name == "":
		opts, err := listOptions(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if opts.Watch {
			s.serveWatch(w, r, t, opts)
			return
		}
		s.serveList(w, r, t, opts)
	case r.Method == http.MethodGet && r.URL.Query().Get("watch") != "" && r.URL.Query().Get("watch") != "false" && r.URL.Query().Get("watch") != "0":
		opts, err := listOptions(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		s.serveWatch(w, r, t, opts)
	case r.Method == http.MethodGet:
		s.serveGet(w, r, t)
	case r.Method == http.MethodPost && t.name == "":
		s.serveCreate(w, r, t)
	case r.Method == http.MethodPut && t.name != "":
		s.serveUpdate(ctx, w, r, t, "")
	case r.Method == http.MethodPatch && t.name != "":
		s.servePatch(w, r, t, "")
	case r.Method == http.MethodDelete && t.name != "":
		s.serveDelete(w, r, t)
	case r.Method == http.MethodDelete && !t.res.NoDeleteCollection:
		s.serveDeleteCollection(w, r, t)
	default:
		writeError(w, r, methodNotSupported(t.res, strings.ToLower(r.Method)))
	}
}

// serveWatchPath answers the deprecated /watch/... paths: a watch of the collection or,
// with a name, of one object.
func (s *Server) serveWatchPath(w http.ResponseWriter, r *http.Request, gv schema.GroupVersion, segs []string) {
	t, err := parseTarget(gv, segs)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if t.subresource != "" {
		writeError(w, r, notFoundResource())
		return
	}
	opts, err := listOptions(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.serveWatch(w, r, t, opts)
}

// consistentRead reports whether a read must be linearizable: every read except those
// asking for resourceVersion=0, which any member may answer from its own state.
func consistentRead(rv string) bool { return rv != "0" }

func (s *Server) serveGet(w http.ResponseWriter, r *http.Request, t target) {
	out, err := negotiate(r, asTable, asPartial)
	if err != nil {
		writeError(w, r, err)
		return
	}
	obj, err := s.get(r.Context(), t.res, t.namespace, t.name, consistentRead(r.URL.Query().Get("resourceVersion")))
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.writeObjects(w, r, http.StatusOK, out, t.res, obj, nil, 0)
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request, t target, opts *metainternalversion.ListOptions) {
	out, err := negotiate(r, asTable, asPartialList)
	if err != nil {
		writeError(w, r, err)
		return
	}
	filter, err := newFilter(t.res, opts)
	if err != nil {
		writeError(w, r, err)
		return
	}
	objs, rev, err := s.list(r.Context(), t.res, t.namespace, consistentRead(opts.ResourceVersion))
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.writeObjects(w, r, http.StatusOK, out, t.res, nil, filter.keep(objs), rev)
}

// writeObjects answers with one object (obj) or a list (items at rev), in the
// representation the client asked for.
func (s *Server) writeObjects(w http.ResponseWriter, r *http.Request, code int, out output, res *registry.Resource, obj runtime.Object, items []runtime.Object, rev uint64) {
	single := obj != nil
	if single {
		items = []runtime.Object{obj}
	}
	switch out.as {
	case asTable:
		table, err := s.table(r, res, items, single, out.asVersion)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if !single {
			table.ResourceVersion = strconv.FormatUint(rev, 10)
		}
		write(w, code, out, table)
	case asPartial, asPartialList:
		gv := schema.GroupVersion{Group: metav1.GroupName, Version: out.asVersion}
		if single {
			m, _ := meta.Accessor(obj)
			p := meta.AsPartialObjectMetadata(m)
			p.SetGroupVersionKind(gv.WithKind(asPartial))
			write(w, code, out, p)
			return
		}
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gv.WithKind(asPartialList))
		list.ResourceVersion = strconv.FormatUint(rev, 10)
		for _, o := range items {
			m, _ := meta.Accessor(o)
			list.Items = append(list.Items, *meta.AsPartialObjectMetadata(m))
		}
		write(w, code, out, list)
	default:
		if single {
			obj.GetObjectKind().SetGroupVersionKind(res.GVK())
			write(w, code, out, obj)
			return
		}
		list := res.NewList()
		for _, o := range items {
			o.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
		}
		if err := meta.SetList(list, items); err != nil {
			writeError(w, r, apierrors.NewInternalError(err))
			return
		}
		lm, _ := meta.ListAccessor(list)
		lm.SetResourceVersion(strconv.FormatUint(rev, 10))
		write(w, code, out, list)
	}
}

// filter applies a list's label and field selectors.
type filter struct {
	res    *registry.Resource
	labels labels.Selector
	fields fields.Selector
}

func newFilter(res *registry.Resource, opts *metainternalversion.ListOptions) (*filter, error) {
	f := &filter{res: res, labels: opts.LabelSelector, fields: opts.FieldSelector}
	if f.labels == nil {
		f.labels = labels.Everything()
	}
	if f.fields == nil || f.fields.Empty() {
		f.fields = nil
		return f, nil
	}
	known := fieldSet(res, res.New())
	for _, req := range f.fields.Requirements() {
		if _, ok := known[req.Field]; !ok {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
		}
	}
	return f, nil
}

func (f *filter) everything() bool { return f.labels.Empty() && f.fields == nil }

// keep returns the objects of objs that match, reusing its array.
func (f *filter) keep(objs []runtime.Object) []runtime.Object {
	kept := objs[:0]
	for _, o := range objs {
		if f.matches(o) {
			kept = append(kept, o)
		}
	}
	return kept
}

func (f *filter) matches(obj runtime.Object) bool {
	m, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	if !f.labels.Matches(labels.Set(m.GetLabels())) {
		return false
	}
	return f.fields == nil || f.fields.Matches(fieldSet(f.res, obj))
}

// fieldSet returns the selectable fields of obj: its name and namespace, and what the
// resource's strategy offers.
func fieldSet(res *registry.Resource, obj runtime.Object) fields.Set {
	set := fields.Set{}
	if res.Strategy.Fields != nil {
		for k, v := range res.Strategy.Fields(obj) {
			set[k] = v
		}
	}
	m, err := meta.Accessor(obj)
	if err == nil {
		set["metadata.name"] = m.GetName()
		if res.Namespaced {
			set["metadata.namespace"] = m.GetNamespace()
		}
	}
	return set
}

func (s *Server) serveCreate(w http.ResponseWriter, r *http.Request, t target) {
	out, dry, err := beginWrite(r, &metav1.CreateOptions{}, asPartial)
	if err != nil {
		writeError(w, r, err)
		return
	}
	obj, err := s.decodeBody(w, r, t.res)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if t.res == registry.Namespaces {
		// A namespace is created in no namespace; the path carries none.
		t.namespace = ""
	}
	created, err := s.create(r.Context(), t.res, t.namespace, obj, dry)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.writeObjects(w, r, http.StatusCreated, out, t.res, created, nil, 0)
}

// decodeBody reads and decodes the request body as an object of res, honouring the
// fieldValidation parameter: Strict refuses unknown and duplicate fields, Warn (the
// default) reports them in Warning headers, Ignore drops them silently.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, res *registry.Resource) (runtime.Object, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	info, err := requestSerializer(r)
	if err != nil {
		return nil, err
	}
	return decodeObject(w, r, res, info, body)
}

// decodeObject decodes body, in the format of info, as an object of res.
func decodeObject(w http.ResponseWriter, r *http.Request, res *registry.Resource, info runtime.SerializerInfo, body []byte) (runtime.Object, error) {
	fv, err := fieldValidationOf(r)
	if err != nil {
		return nil, err
	}
	dec := runtime.Decoder(info.Serializer)
	if fv != validationIgnore && info.StrictSerializer != nil {
		dec = info.StrictSerializer
	}
	gvk := res.GVK()
	obj, got, err := dec.Decode(body, &gvk, res.New())
	if err != nil {
		strict, isStrict := runtime.AsStrictDecodingError(err)
		if !isStrict || fv == validationStrict || obj == nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", res.Kind, res.Version, res.Kind, err))
		}
		if fv == validationWarn {
			for _, e := range strict.Errors() {
				w.Header().Add("Warning", fmt.Sprintf("299 - %q", e.Error()))
			}
		}
	}
	if got != nil && (got.Group != res.Group || got.Kind != res.Kind || got.Version != res.Version) {
		if got.Kind == res.Kind && got.Group == res.Group {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", got.GroupVersion(), res.GroupVersion()))
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", got.Kind, res.Kind))
	}
	return obj, nil
}

func (s *Server) serveUpdate(ctx context.Context, w http.ResponseWriter, r *http.Request, t target, sub string) {
	out, dry, err := beginWrite(r, &metav1.UpdateOptions{}, asPartial)
	if err != nil {
		writeError(w, r, err)
		return
	}
	obj, err := s.decodeBody(w, r, t.res)
	if err != nil {
		writeError(w, r, err)
		return
	}
	m, _ := meta.Accessor(obj)
	if m.GetName() != t.name {
		writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), t.name)))
		return
	}
	if t.res.Namespaced && m.GetNamespace() != "" && m.GetNamespace() != t.namespace {
		writeError(w, r, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
		return
	}
	wantRV := m.GetResourceVersion()
	updated, err := s.update(ctx, t.res, sub, t.namespace, t.name, func(old runtime.Object) (runtime.Object, error) {
		if err := checkRV(t.res, old, wantRV); err != nil {
			return nil, err
		}
		return obj.DeepCopyObject(), nil
	}, dry)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.writeObjects(w, r, http.StatusOK, out, t.res, updated, nil, 0)
}

// checkRV fails with Conflict when a client's resourceVersion is not the current one.
func checkRV(res *registry.Resource, old runtime.Object, want string) error {
	if want == "" {
		return nil
	}
	m, _ := meta.Accessor(old)
	if m.GetResourceVersion() != want {
		return apierrors.NewConflict(schema.GroupResource{Group: res.Group, Resource: res.Resource}, m.GetName(), fmt.Errorf("%s", conflictMessage))
	}
	return nil
}

func (s *Server) serveDelete(w http.ResponseWriter, r *http.Request, t target) {
	out, err := negotiate(r, asPartial)
	if err != nil {
		writeError(w, r, err)
		return
	}
	opts, err := deleteOptions(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	dry, err := dryRun(opts.DryRun)
	if err != nil {
		writeError(w, r, err)
		return
	}
	// Whether the object is gone or waits for finalizers or its node, the answer is
	// 200 with the object as it now is, as kube-apiserver gives today's clients.
	obj, _, err := s.deleteObject(r.Context(), t.res, t.namespace, t.name, opts, dry)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.writeObjects(w, r, http.StatusOK, out, t.res, obj, nil, 0)
}

func (s *Server) serveDeleteCollection(w http.ResponseWriter, r *http.Request, t target) {
	out, err := negotiate(r, asPartialList)
	if err != nil {
		writeError(w, r, err)
		return
	}
	lopts, err := listOptions(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	opts, err := deleteOptions(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	dry, err := dryRun(opts.DryRun)
	if err != nil {
		writeError(w, r, err)
		return
	}
	filter, err := newFilter(t.res, lopts)
	if err != nil {
		writeError(w, r, err)
		return
	}
	objs, rev, err := s.list(r.Context(), t.res, t.namespace, true)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var deleted []runtime.Object
	for _, o := range objs {
		if !filter.matches(o) {
			continue
		}
		m, _ := meta.Accessor(o)
		d, _, err := s.deleteObject(r.Context(), t.res, m.GetNamespace(), m.GetName(), opts, dry)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		deleted = append(deleted, d)
	}
	s.writeObjects(w, r, http.StatusOK, out, t.res, nil, deleted, rev)
}
