package documents

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	openapi_v3 "github.com/google/gnostic-models/openapiv3"
	"google.golang.org/protobuf/proto"
	"k8s.io/kube-openapi/pkg/common"
)

// index describes the written files; package openapi reads it (its copy of these types
// is in controlplane/apiserver/openapi/data.go).
type index struct {
	// Kubernetes is the Kubernetes API version the documents describe: that of the
	// k8s.io/api module they were generated from.
	Kubernetes string              `json:"kubernetes"`
	V2         document            `json:"v2"`
	V3         map[string]document `json:"v3"`
}

type document struct {
	JSON     file  `json:"json"`
	Protobuf *file `json:"protobuf,omitempty"`
}

type file struct {
	// Path is the gzip-compressed file, relative to the index.
	Path string `json:"path"`
	// ETag is the SHA-512 of the uncompressed bytes in upper-case hex, as kube-apiserver
	// computes it; for v3 JSON it is also the hash in the document's URL.
	ETag string `json:"etag"`
	// Size is the uncompressed size.
	Size int `json:"size"`
}

// Main is the generator's entry point: it builds the documents and writes them to the
// directory named by -out.
func Main(getDefinitions common.GetOpenAPIDefinitions) {
	out := flag.String("out", "", "directory to write the documents to")
	flag.Parse()
	if *out == "" {
		log.Fatal("-out is required")
	}
	version, err := kubernetesVersion()
	if err != nil {
		log.Fatal(err)
	}
	set, err := Build(getDefinitions, version)
	if err != nil {
		log.Fatal(err)
	}
	if err := set.Write(*out); err != nil {
		log.Fatal(err)
	}
}

// kubernetesVersion is the Kubernetes version matching the k8s.io/api module this
// program is built with: v0.32.13 is Kubernetes v1.32.13.
func kubernetesVersion() (string, error) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", fmt.Errorf("no build info: cannot tell the k8s.io/api version")
	}
	for _, m := range bi.Deps {
		if m.Path == "k8s.io/api" {
			v := m.Version
			if m.Replace != nil {
				v = m.Replace.Version
			}
			if !strings.HasPrefix(v, "v0.") {
				return "", fmt.Errorf("k8s.io/api version %q is not v0.x.y", v)
			}
			return "v1." + strings.TrimPrefix(v, "v0."), nil
		}
	}
	return "", fmt.Errorf("k8s.io/api is not a dependency")
}

// Write replaces dir's contents with the compressed documents, their protobuf encodings
// and index.json.
func (s *Set) Write(dir string) error {
	if err := os.RemoveAll(filepath.Join(dir, "v3")); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "v3"), 0o755); err != nil {
		return err
	}
	idx := index{Kubernetes: s.Version, V3: map[string]document{}}

	pb, err := v2Protobuf(s.V2)
	if err != nil {
		return fmt.Errorf("OpenAPI v2 protobuf: %w", err)
	}
	if idx.V2.JSON, err = writeFile(dir, "v2.json.gz", s.V2); err != nil {
		return err
	}
	f, err := writeFile(dir, "v2.pb.gz", pb)
	if err != nil {
		return err
	}
	idx.V2.Protobuf = &f

	names := make([]string, 0, len(s.V3))
	for name := range s.V3 {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		base := "v3/" + strings.ReplaceAll(name, "/", "__")
		var d document
		if d.JSON, err = writeFile(dir, base+".json.gz", s.V3[name]); err != nil {
			return err
		}
		pb, err := v3Protobuf(s.V3[name])
		if err != nil {
			return fmt.Errorf("OpenAPI v3 %s protobuf: %w", name, err)
		}
		f, err := writeFile(dir, base+".pb.gz", pb)
		if err != nil {
			return err
		}
		d.Protobuf = &f
		idx.V3[name] = d
	}

	data, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "index.json"), append(data, '\n'), 0o644)
}

// v2Protobuf encodes the document as gnostic's OpenAPI v2 message, which is what
// kube-apiserver serves to clients asking for
// application/com.github.proto-openapi.spec.v2@v1.0+protobuf (client-go does).
func v2Protobuf(doc []byte) ([]byte, error) {
	d, err := openapi_v2.ParseDocument(doc)
	if err != nil {
		return nil, err
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(d)
}

func v3Protobuf(doc []byte) ([]byte, error) {
	d, err := openapi_v3.ParseDocument(doc)
	if err != nil {
		return nil, err
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(d)
}

// writeFile writes data gzip-compressed. The gzip header carries no name or time, so the
// same data always gives the same file.
func writeFile(dir, name string, data []byte) (file, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return file{}, err
	}
	if _, err := zw.Write(data); err != nil {
		return file{}, err
	}
	if err := zw.Close(); err != nil {
		return file{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
		return file{}, err
	}
	return file{Path: name, ETag: fmt.Sprintf("%X", sha512.Sum512(data)), Size: len(data)}, nil
}
