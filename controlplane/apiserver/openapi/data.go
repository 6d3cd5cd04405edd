package openapi

import (
	"crypto/sha512"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"sync"
)

// data holds the generated documents, gzip-compressed, and index.json describing them.
// Files are read from it as streams: the bytes stay in the binary's read-only data and
// are never copied whole onto the heap.
//
//go:embed data
var data embed.FS

// index is data/index.json; gen/internal/documents writes it.
type index struct {
	// Kubernetes is the Kubernetes API version the documents describe.
	Kubernetes string               `json:"kubernetes"`
	V2         document             `json:"v2"`
	V3         map[string]*document `json:"v3"`
}

// document is one document's encodings.
type document struct {
	JSON     file  `json:"json"`
	Protobuf *file `json:"protobuf,omitempty"`
}

// file is one encoding of a document.
type file struct {
	// Path is the gzip-compressed file, relative to data/.
	Path string `json:"path"`
	// ETag is the SHA-512 of the uncompressed bytes in upper-case hex, as kube-apiserver
	// computes it. For v3 JSON it is also the hash in the document's URL.
	ETag string `json:"etag"`
	// Size is the uncompressed size.
	Size int `json:"size"`
	// compressedSize is the size of the embedded file.
	compressedSize int64
}

// documents is the loaded index, with the OpenAPI v3 discovery document built from it.
type documents struct {
	index
	// v3Root is the body of /openapi/v3, and v3RootETag its ETag.
	v3Root     []byte
	v3RootETag string
}

// v3Discovery is the body of /openapi/v3, as client-go's openapi client reads it.
type v3Discovery struct {
	Paths map[string]v3DiscoveryEntry `json:"paths"`
}

type v3DiscoveryEntry struct {
	ServerRelativeURL string `json:"serverRelativeURL"`
}

var embedded = sync.OnceValue(func() *documents {
	d, err := load(data)
	if err != nil {
		panic(fmt.Sprintf("openapi: embedded documents: %v (run go generate ./controlplane/apiserver/openapi/...)", err))
	}
	return d
})

func load(fsys fs.FS) (*documents, error) {
	raw, err := fs.ReadFile(fsys, "data/index.json")
	if err != nil {
		return nil, err
	}
	var d documents
	if err := json.Unmarshal(raw, &d.index); err != nil {
		return nil, fmt.Errorf("data/index.json: %w", err)
	}
	files := []*file{&d.V2.JSON, d.V2.Protobuf}
	disco := v3Discovery{Paths: map[string]v3DiscoveryEntry{}}
	for name, doc := range d.V3 {
		files = append(files, &doc.JSON, doc.Protobuf)
		disco.Paths[name] = v3DiscoveryEntry{ServerRelativeURL: v3URL(name, doc.JSON.ETag)}
	}
	for _, f := range files {
		if f == nil {
			continue
		}
		st, err := fs.Stat(fsys, "data/"+f.Path)
		if err != nil {
			return nil, err
		}
		f.compressedSize = st.Size()
	}
	if d.v3Root, err = json.Marshal(disco); err != nil {
		return nil, err
	}
	d.v3RootETag = fmt.Sprintf("%X", sha512.Sum512(d.v3Root))
	return &d, nil
}

// v3URL is where a v3 document is served: "/openapi/v3/apis/apps/v1?hash=<etag>".
func v3URL(name, etag string) string {
	u := url.URL{Path: "/openapi/v3/" + name, RawQuery: url.Values{"hash": {etag}}.Encode()}
	return u.String()
}
