package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// patchType reads the patch format from the Content-Type header.
func patchType(r *http.Request) (types.PatchType, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return "", unsupportedPatch(r.Header.Get("Content-Type"))
	}
	switch pt := types.PatchType(mt); pt {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType:
		return pt, nil
	}
	return "", unsupportedPatch(mt)
}

func unsupportedPatch(ct string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure,
		Code:   http.StatusUnsupportedMediaType,
		Reason: metav1.StatusReasonUnsupportedMediaType,
		Message: fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s, %s, %s, %s (got %q)",
			types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType, ct),
	}}
}

// applyPatch applies a patch document to the JSON of an object whose Go type is like
// typed, returning the patched JSON.
func applyPatch(pt types.PatchType, original, patch []byte, typed runtime.Object) ([]byte, error) {
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		out, err := p.Apply(original)
		if err != nil {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)
		}
		return out, nil
	case types.MergePatchType:
		out, err := jsonpatch.MergePatch(original, patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return out, nil
	case types.StrategicMergePatchType:
		out, err := strategicpatch.StrategicMergePatch(original, patch, typed)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return out, nil
	}
	return nil, unsupportedPatch(string(pt))
}

func (s *Server) servePatch(w http.ResponseWriter, r *http.Request, t target, sub string) {
	opts := &metav1.PatchOptions{}
	out, dry, err := beginWrite(r, opts, asPartial)
	if err != nil {
		writeError(w, r, err)
		return
	}
	pt, err := patchType(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	patch, err := readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if pt == types.ApplyYAMLPatchType {
		s.serveApply(w, r, t, sub, out, opts, patch, dry)
		return
	}
	jsonInfo := mediaTypes[runtime.ContentTypeJSON]
	updated, err := s.update(r.Context(), t.res, sub, t.namespace, t.name, func(old runtime.Object) (runtime.Object, error) {
		old.GetObjectKind().SetGroupVersionKind(t.res.GVK())
		original, err := json.Marshal(old)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		patched, err := applyPatch(pt, original, patch, t.res.New())
		if err != nil {
			return nil, err
		}
		obj, err := decodeObject(w, r, t.res, jsonInfo, patched)
		if err != nil {
			return nil, asPatchError(err)
		}
		m, _ := meta.Accessor(obj)
		if err := checkRV(t.res, old, m.GetResourceVersion()); err != nil {
			return nil, err
		}
		return obj, nil
	}, dry)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.writeObjects(w, r, http.StatusOK, out, t.res, updated, nil, 0)
}

// asPatchError keeps a decode error of a patched object a 4xx.
func asPatchError(err error) error {
	if apierrors.IsBadRequest(err) {
		return err
	}
	return apierrors.NewBadRequest(err.Error())
}
