package openapi

import (
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/munnerz/goautoneg"
)

const (
	v2Path = "/openapi/v2"
	v3Path = "/openapi/v3"

	contentTypeJSON = "application/json"
	// Protobuf media types: clients ask with "@v1.0", the server answers with ".v1.0", as
	// kube-apiserver does.
	protobufV2        = "com.github.proto-openapi.spec.v2.v1.0+protobuf"
	protobufV2Request = "com.github.proto-openapi.spec.v2@v1.0+protobuf"
	protobufV3        = "com.github.proto-openapi.spec.v3.v1.0+protobuf"
	protobufV3Request = "com.github.proto-openapi.spec.v3@v1.0+protobuf"
)

type handler struct {
	docs *documents
}

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch p := r.URL.Path; {
	case p == v2Path:
		h.serveDocument(w, r, &h.docs.V2, protobufV2Request, protobufV2, false)
	case p == v3Path:
		h.serveV3Discovery(w, r)
	case strings.HasPrefix(p, v3Path+"/"):
		name := strings.TrimPrefix(p, v3Path+"/")
		doc, ok := h.docs.V3[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		immutable := false
		if hash := r.URL.Query().Get("hash"); hash != "" {
			if hash != doc.JSON.ETag {
				// The client read an older list of documents: send it to the current
				// version, as kube-apiserver does.
				http.Redirect(w, r, v3URL(name, doc.JSON.ETag), http.StatusMovedPermanently)
				return
			}
			immutable = true
		}
		h.serveDocument(w, r, doc, protobufV3Request, protobufV3, immutable)
	default:
		http.NotFound(w, r)
	}
}

// serveV3Discovery answers /openapi/v3 with the list of v3 documents. It is a few
// kilobytes, kept decoded.
func (h handler) serveV3Discovery(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Type", contentTypeJSON)
	hdr.Set("Etag", strconv.Quote(h.docs.v3RootETag))
	if etagMatches(r.Header.Get("If-None-Match"), h.docs.v3RootETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Length", strconv.Itoa(len(h.docs.v3Root)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(h.docs.v3Root)
	}
}

// serveDocument sends the encoding of doc the request's Accept header prefers: JSON, or
// protobuf when asked for as protobufRequest (or as the served name, protobufType).
func (h handler) serveDocument(w http.ResponseWriter, r *http.Request, doc *document, protobufRequest, protobufType string, immutable bool) {
	hdr := w.Header()
	hdr.Add("Vary", "Accept")
	hdr.Add("Vary", "Accept-Encoding")
	f, contentType := negotiate(r.Header.Get("Accept"), doc, protobufRequest, protobufType)
	if f == nil {
		http.Error(w, "the OpenAPI document is served as application/json or application/"+protobufType,
			http.StatusNotAcceptable)
		return
	}
	hdr.Set("Content-Type", contentType)
	hdr.Set("Etag", strconv.Quote(f.ETag))
	if immutable {
		// The URL names this exact document: it never changes.
		hdr.Set("Cache-Control", "public, immutable")
		hdr.Set("Expires", time.Now().AddDate(1, 0, 0).UTC().Format(http.TimeFormat))
	}
	if etagMatches(r.Header.Get("If-None-Match"), f.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}

	compressed, err := data.Open("data/" + f.Path)
	if err != nil {
		http.Error(w, "OpenAPI document missing", http.StatusInternalServerError)
		return
	}
	defer compressed.Close()
	var body io.Reader = compressed
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		hdr.Set("Content-Encoding", "gzip")
		hdr.Set("Content-Length", strconv.FormatInt(f.compressedSize, 10))
	} else {
		zr, err := gzip.NewReader(compressed)
		if err != nil {
			http.Error(w, "OpenAPI document corrupt", http.StatusInternalServerError)
			return
		}
		defer zr.Close()
		body = zr
		hdr.Set("Content-Length", strconv.Itoa(f.Size))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	// A failure here is the client going away; the status is already sent.
	io.Copy(w, body)
}

// negotiate picks the encoding the Accept header prefers, or nil if it accepts none.
func negotiate(accept string, doc *document, protobufRequest, protobufType string) (*file, string) {
	if accept == "" {
		accept = "*/*"
	}
	for _, clause := range goautoneg.ParseAccept(accept) {
		if clause.Q <= 0 {
			continue
		}
		if clause.Type != "application" && clause.Type != "*" {
			continue
		}
		switch clause.SubType {
		case "json", "*":
			return &doc.JSON, contentTypeJSON
		case protobufRequest, protobufType:
			if doc.Protobuf != nil {
				return doc.Protobuf, "application/" + protobufType
			}
		}
	}
	return nil, ""
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(header string) bool {
	gzip, star := -1.0, -1.0
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip", "x-gzip":
			gzip = q
		case "*":
			star = q
		}
	}
	if gzip >= 0 {
		return gzip > 0
	}
	return star > 0
}

// etagMatches reports whether an If-None-Match header names etag (or is "*"). ETags
// compare weakly, as RFC 9110 asks for If-None-Match.
func etagMatches(header, etag string) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" {
			return true
		}
		tag = strings.TrimPrefix(tag, "W/")
		if tag == strconv.Quote(etag) {
			return true
		}
	}
	return false
}
