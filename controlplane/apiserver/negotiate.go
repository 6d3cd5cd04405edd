package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/kindlike/kindlike/controlplane/registry"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Alternative representations a client may ask for with the "as" media type parameter.
const (
	asTable        = "Table"
	asPartial      = "PartialObjectMetadata"
	asPartialList  = "PartialObjectMetadataList"
	asDiscoveryV2  = "APIGroupDiscoveryList"
	discoveryGroup = "apidiscovery.k8s.io"
)

// output is what a request will be answered in.
type output struct {
	info runtime.SerializerInfo
	// as is "" for the object itself, or one of the as* representations.
	as string
	// asVersion is the version of the representation's group (meta.k8s.io v1 or
	// v1beta1, apidiscovery.k8s.io v2 or v2beta1).
	asVersion string
	pretty    bool
}

// mediaTypes the server writes, by name.
var mediaTypes = func() map[string]runtime.SerializerInfo {
	m := map[string]runtime.SerializerInfo{}
	for _, info := range registry.Codecs.SupportedMediaTypes() {
		m[info.MediaType] = info
	}
	return m
}()

// negotiate picks the representation of the answer from the Accept header. allowed
// lists the "as" representations the endpoint can produce.
func negotiate(r *http.Request, allowed ...string) (output, error) {
	accept := r.Header.Get("Accept")
	pretty := wantsPretty(r)
	if strings.TrimSpace(accept) == "" {
		return output{info: mediaTypes[runtime.ContentTypeJSON], pretty: pretty}, nil
	}
	for _, clause := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(clause))
		if err != nil {
			continue
		}
		if mt == "*/*" || mt == "application/*" {
			mt = runtime.ContentTypeJSON
		}
		info, ok := mediaTypes[mt]
		if !ok {
			continue
		}
		as := params["as"]
		if as == "" {
			return output{info: info, pretty: pretty}, nil
		}
		if !slices.Contains(allowed, as) {
			continue
		}
		g, v := params["g"], params["v"]
		switch as {
		case asDiscoveryV2:
			if g != discoveryGroup || (v != "v2" && v != "v2beta1") {
				continue
			}
		default:
			if g != metav1.GroupName || (v != "v1" && v != "v1beta1") {
				continue
			}
			if mt != runtime.ContentTypeJSON && mt != runtime.ContentTypeYAML {
				// Tables and metadata are served as JSON or YAML only.
				continue
			}
		}
		return output{info: info, as: as, asVersion: v, pretty: pretty}, nil
	}
	return output{}, notAcceptable(accept)
}

func notAcceptable(accept string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusNotAcceptable,
		Reason:  metav1.StatusReasonNotAcceptable,
		Message: fmt.Sprintf("only the following media types are accepted: %s (asked for %q)", strings.Join(supportedTypes(), ", "), accept),
	}}
}

func supportedTypes() []string {
	var out []string
	for _, info := range registry.Codecs.SupportedMediaTypes() {
		out = append(out, info.MediaType)
	}
	return out
}

// wantsPretty reports whether JSON should be indented: on request, and for curl and
// wget, as kube-apiserver does so a person reading the answer can.
func wantsPretty(r *http.Request) bool {
	if p := r.URL.Query().Get("pretty"); p != "" {
		return p == "1" || p == "true"
	}
	ua := r.UserAgent()
	return strings.HasPrefix(ua, "curl") || strings.HasPrefix(ua, "Wget")
}

// contentType returns the media type of the request body and the serializer for it.
func requestSerializer(r *http.Request) (runtime.SerializerInfo, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return mediaTypes[runtime.ContentTypeJSON], nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return runtime.SerializerInfo{}, unsupportedMediaType(ct)
	}
	if mt == "*/*" {
		mt = runtime.ContentTypeJSON
	}
	info, ok := mediaTypes[mt]
	if !ok {
		return runtime.SerializerInfo{}, unsupportedMediaType(ct)
	}
	return info, nil
}

func unsupportedMediaType(ct string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusUnsupportedMediaType,
		Reason:  metav1.StatusReasonUnsupportedMediaType,
		Message: fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s", strings.Join(supportedTypes(), ", ")),
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: metav1.CauseTypeFieldValueNotSupported, Message: ct}}},
	}}
}

// write encodes obj in the negotiated media type with the given HTTP status.
func write(w http.ResponseWriter, code int, out output, obj runtime.Object) {
	ser := out.info.Serializer
	if out.pretty && out.info.PrettySerializer != nil {
		ser = out.info.PrettySerializer
	}
	w.Header().Set("Content-Type", out.info.MediaType)
	if out.as == asDiscoveryV2 {
		w.Header().Set("Content-Type", fmt.Sprintf("%s;g=%s;v=%s;as=%s", out.info.MediaType, discoveryGroup, out.asVersion, asDiscoveryV2))
	}
	w.WriteHeader(code)
	if err := ser.Encode(obj, w); err != nil {
		// Headers are gone; all that is left is to end the body.
		fmt.Fprintf(w, "\nencoding failed: %v\n", err)
	}
}

// writeError answers with the Status for err, in JSON unless the client asked for
// protobuf (client-go decodes Status bodies either way).
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := toStatus(err)
	st.Kind, st.APIVersion = "Status", "v1"
	out, nerr := negotiate(r)
	if nerr != nil || out.info.MediaType == runtime.ContentTypeYAML {
		out = output{info: mediaTypes[runtime.ContentTypeJSON]}
	}
	out.as = ""
	if st.Details != nil && st.Details.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(st.Details.RetryAfterSeconds))
	}
	write(w, int(st.Code), out, st)
}

// writeJSON writes a plain JSON document (not a Kubernetes object).
func writeJSON(w http.ResponseWriter, code int, v any, pretty bool) {
	w.Header().Set("Content-Type", runtime.ContentTypeJSON)
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	if pretty {
		enc.SetIndent("", "  ")
	}
	_ = enc.Encode(v)
}
