package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/kindlike/kindlike/controlplane/registry"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// table converts objects of res into a meta.k8s.io Table of the given version. The
// includeObject parameter chooses what each row carries: nothing, the object's
// metadata (the default) or the whole object.
func (s *Server) table(r *http.Request, res *registry.Resource, items []runtime.Object, single bool, version string) (*metav1.Table, error) {
	if s.tables == nil {
		return nil, notAcceptable(r.Header.Get("Accept"))
	}
	opts := &metav1.TableOptions{}
	if err := decodeParams(r, opts); err != nil {
		return nil, err
	}
	var in runtime.Object
	if single {
		in = items[0]
	} else {
		list := res.NewList()
		if err := meta.SetList(list, items); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		in = list
	}
	tbl, err := s.tables(in, s.now())
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("print %s as a table: %w", res.Resource, err))
	}
	for i := range tbl.Rows {
		row := &tbl.Rows[i]
		obj := row.Object.Object
		row.Object = runtime.RawExtension{}
		if obj == nil {
			continue
		}
		var embed runtime.Object
		switch opts.IncludeObject {
		case metav1.IncludeNone:
			continue
		case metav1.IncludeObject:
			obj = obj.DeepCopyObject()
			obj.GetObjectKind().SetGroupVersionKind(res.GVK())
			embed = obj
		default:
			m, err := meta.Accessor(obj)
			if err != nil {
				continue
			}
			p := meta.AsPartialObjectMetadata(m)
			p.SetGroupVersionKind(schema.GroupVersionKind{Group: metav1.GroupName, Version: version, Kind: asPartial})
			embed = p
		}
		raw, err := json.Marshal(embed)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		row.Object.Raw = raw
	}
	if opts.NoHeaders {
		tbl.ColumnDefinitions = nil
	}
	tbl.SetGroupVersionKind(schema.GroupVersionKind{Group: metav1.GroupName, Version: version, Kind: asTable})
	return tbl, nil
}
