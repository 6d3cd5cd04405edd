package apiserver

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/kindlike/kindlike/controlplane/registry"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// maxBodyBytes is the largest request body accepted, as kube-apiserver's limit.
const maxBodyBytes = 3 * 1024 * 1024

// target is what a resource request names.
type target struct {
	res         *registry.Resource
	namespace   string
	name        string
	subresource string
}

// parseTarget reads the path segments after /api/v1 or /apis/{group}/{version}.
func parseTarget(gv schema.GroupVersion, segs []string) (target, error) {
	var t target
	if len(segs) >= 3 && segs[0] == "namespaces" {
		// /namespaces/{ns}/{resource}[/{name}[/{sub}...]]
		t.namespace = segs[1]
		segs = segs[2:]
		if len(segs) > 0 && isNamespaceSub(gv, segs[0]) {
			// /namespaces/{name}/status or /finalize
			segs = []string{"namespaces", t.namespace, segs[0]}
			t.namespace = ""
		}
	}
	if len(segs) == 0 {
		return t, notFoundResource()
	}
	res, ok := registry.Lookup(gv.Group, gv.Version, segs[0])
	if !ok {
		return t, notFoundResource()
	}
	t.res = res
	if t.namespace != "" && !res.Namespaced {
		return t, notFoundResource()
	}
	if len(segs) > 1 {
		t.name = segs[1]
	}
	if len(segs) > 2 {
		t.subresource = segs[2]
		if !res.HasSubresource(t.subresource) {
			return t, notFoundResource()
		}
	}
	return t, nil
}

func isNamespaceSub(gv schema.GroupVersion, s string) bool {
	return gv.Group == "" && (s == registry.Status || s == registry.Finalize)
}

// splitPath splits a URL path into its non-empty segments, unescaping each.
func splitPath(p string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s == "" {
			continue
		}
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid path segment %q", s))
		}
		out = append(out, u)
	}
	return out, nil
}

// readBody reads a request body, refusing more than maxBodyBytes with 413.
func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > maxBodyBytes {
		return nil, tooLarge()
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("reading the request body: %v", err))
	}
	if len(body) > maxBodyBytes {
		return nil, tooLarge()
	}
	return body, nil
}

func tooLarge() error {
	return apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxBodyBytes))
}

// listOptions decodes the list and watch parameters of a request.
func listOptions(r *http.Request) (*metainternalversion.ListOptions, error) {
	opts := &metainternalversion.ListOptions{}
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, opts); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return opts, nil
}

// decodeParams decodes query parameters into one of metav1's option types.
func decodeParams(r *http.Request, into runtime.Object) error {
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, into); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	return nil
}

// deleteOptions reads DeleteOptions from the body if there is one, else from the query.
func deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	if err := decodeParams(r, opts); err != nil {
		return nil, err
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return opts, nil
	}
	info, err := requestSerializer(r)
	if err != nil {
		return nil, err
	}
	gvk := metav1.SchemeGroupVersion.WithKind("DeleteOptions")
	obj, _, err := registry.Codecs.UniversalDeserializer().Decode(body, &gvk, &metav1.DeleteOptions{})
	if err != nil {
		// Older clients send DeleteOptions of another group version; take the fields.
		if _, _, err2 := info.Serializer.Decode(body, &gvk, opts); err2 != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("decoding DeleteOptions: %v", err))
		}
		return opts, nil
	}
	do, ok := obj.(*metav1.DeleteOptions)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("expected DeleteOptions, got %T", obj))
	}
	if do.GracePeriodSeconds == nil {
		do.GracePeriodSeconds = opts.GracePeriodSeconds
	}
	if do.PropagationPolicy == nil {
		do.PropagationPolicy = opts.PropagationPolicy
	}
	if len(do.DryRun) == 0 {
		do.DryRun = opts.DryRun
	}
	return do, nil
}

// dryRun reports whether the request asked for dryRun=All; any other value is 400.
func dryRun(values []string) (bool, error) {
	for _, v := range values {
		if v != metav1.DryRunAll {
			return false, apierrors.NewBadRequest(fmt.Sprintf("Invalid dry run value: %q: supported values: %q", v, metav1.DryRunAll))
		}
	}
	return len(values) > 0, nil
}

// fieldValidation is what to do with unknown or duplicate fields in a body.
type fieldValidation string

const (
	validationIgnore fieldValidation = "Ignore"
	validationWarn   fieldValidation = "Warn"
	validationStrict fieldValidation = "Strict"
)

func fieldValidationOf(r *http.Request) (fieldValidation, error) {
	switch v := r.URL.Query().Get("fieldValidation"); v {
	case "":
		return validationWarn, nil
	case string(validationIgnore), string(validationWarn), string(validationStrict):
		return fieldValidation(v), nil
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation: Unsupported value: %q: supported values: \"Ignore\", \"Strict\", \"Warn\"", v))
	}
}

// beginWrite reads what every write shares: the representation of the answer, the
// write's options from the query (a *metav1.CreateOptions, UpdateOptions or
// PatchOptions), and whether it is a dry run.
func beginWrite(r *http.Request, opts runtime.Object, allowed ...string) (output, bool, error) {
	out, err := negotiate(r, allowed...)
	if err != nil {
		return out, false, err
	}
	if err := decodeParams(r, opts); err != nil {
		return out, false, err
	}
	var values []string
	switch o := opts.(type) {
	case *metav1.CreateOptions:
		values = o.DryRun
	case *metav1.UpdateOptions:
		values = o.DryRun
	case *metav1.PatchOptions:
		values = o.DryRun
	}
	dry, err := dryRun(values)
	return out, dry, err
}

// decodeInto reads the request body into a subresource's request object of kind gvk
// (Binding, Eviction, Scale).
func decodeInto(r *http.Request, into runtime.Object, gvk schema.GroupVersionKind) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	info, err := requestSerializer(r)
	if err != nil {
		return err
	}
	if _, _, err := info.Serializer.Decode(body, &gvk, into); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", gvk.Kind, gvk.Version, gvk.Kind, err))
	}
	return nil
}
