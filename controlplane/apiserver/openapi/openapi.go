// Package openapi serves the API's OpenAPI documents at /openapi/v2 and /openapi/v3, as
// kube-apiserver does, so kubectl can validate, explain and patch kindlike's objects.
//
// The documents are generated ahead of time from the resource registry and the k8s.io/api
// types (see gen/) and embedded compressed: serving them builds nothing and holds no
// decoded copy, which keeps the control plane small.
package openapi

import (
	"net/http"

	"github.com/gorilla/mux"
)

//go:generate go run ./gen -out data

// Register routes /openapi/v2, /openapi/v3 and /openapi/v3/{group-version...} to
// Handler.
func Register(r *mux.Router) {
	h := Handler()
	r.Path("/openapi/v2").Handler(h)
	r.Path("/openapi/v3").Handler(h)
	r.PathPrefix("/openapi/v3/").Handler(h)
}

// Handler serves the OpenAPI documents:
//
//   - /openapi/v2: the OpenAPI v2 document, as JSON or as gnostic's protobuf
//     (application/com.github.proto-openapi.spec.v2@v1.0+protobuf), which client-go's
//     discovery asks for;
//   - /openapi/v3: the list of OpenAPI v3 documents, one per group version ("api/v1",
//     "apis/apps/v1"...) and one for each discovery path, each with a serverRelativeURL
//     carrying the document's hash;
//   - /openapi/v3/<name>: one OpenAPI v3 document, as JSON or protobuf. A request for an
//     outdated hash is redirected to the current one; a request with the current hash may
//     be cached for good.
//
// Responses carry ETags and answer If-None-Match with 304 Not Modified. Clients that
// accept gzip (client-go does) get the embedded compressed bytes as they are; others get
// them decompressed as they are sent.
func Handler() http.Handler {
	return handler{docs: embedded()}
}
