package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kindlike/kindlike/controlplane/printers"
	"github.com/kindlike/kindlike/controlplane/store"
)

const testToken = "test-token"

type testServer struct {
	url    string
	client kubernetes.Interface
	proto  kubernetes.Interface
}

// newTestServer serves the API over a one-member store with a short watch history,
// with the default namespace created.
func newTestServer(t *testing.T) *testServer {
	t.Helper()
	return newTestServerOver(t, func(st Storage) Storage { return st })
}

// newTestServerOver is newTestServer with the store seen through wrap.
func newTestServerOver(t *testing.T, wrap func(Storage) Storage) *testServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	st, err := store.Open(store.Config{ID: "m1", DataDir: t.TempDir(), Bind: addr, Peers: []store.Peer{{ID: "m1", Addr: addr}}, WatchHistory: 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for !st.IsLeader() {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := New(Config{Storage: wrap(st), Tables: printers.Table, Tokens: map[string]User{testToken: {Name: "admin"}}})
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	cfg := &rest.Config{Host: hs.URL, BearerToken: testToken}
	ts := &testServer{url: hs.URL, client: kubernetes.NewForConfigOrDie(cfg)}
	pcfg := rest.CopyConfig(cfg)
	pcfg.ContentType = "application/vnd.kubernetes.protobuf"
	pcfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf"
	ts.proto = kubernetes.NewForConfigOrDie(pcfg)
	if _, err := ts.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return ts
}

// do sends a raw request and returns status code, headers and body.
func (ts *testServer) do(t *testing.T, method, path, contentType string, body []byte, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func statusOf(t *testing.T, body []byte) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("body is not a Status: %v: %s", err, body)
	}
	return st
}

func cm(name string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Data: map[string]string{"k": "v"}}
}

func TestErrorsAreKubernetesStatuses(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	if _, err := ts.client.CoreV1().ConfigMaps("default").Create(ctx, cm("a", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path, ct string
		body                   []byte
		code                   int
		reason                 metav1.StatusReason
		message                string
	}{
		{"malformed JSON", "POST", "/api/v1/namespaces/default/configmaps", "application/json", []byte(`{"metadata":`), 400, metav1.StatusReasonBadRequest, "ConfigMap in version \"v1\" cannot be handled as a ConfigMap"},
		{"malformed protobuf", "POST", "/api/v1/namespaces/default/configmaps", "application/vnd.kubernetes.protobuf", []byte("k8s\x00garbage"), 400, metav1.StatusReasonBadRequest, "cannot be handled as a ConfigMap"},
		{"unknown resource", "GET", "/api/v1/namespaces/default/flurbs", "", nil, 404, metav1.StatusReasonNotFound, "the server could not find the requested resource"},
		{"unknown group", "GET", "/apis/nope.example.com/v1/things", "", nil, 404, metav1.StatusReasonNotFound, "the server could not find the requested resource"},
		{"already exists", "POST", "/api/v1/namespaces/default/configmaps", "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`), 409, metav1.StatusReasonAlreadyExists, `configmaps "a" already exists`},
		{"stale resourceVersion", "PUT", "/api/v1/namespaces/default/configmaps/a", "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"1"}}`), 409, metav1.StatusReasonConflict, `Operation cannot be fulfilled on configmaps "a": the object has been modified; please apply your changes to the latest version and try again`},
		{"invalid", "POST", "/api/v1/namespaces/default/configmaps", "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}}`), 422, metav1.StatusReasonInvalid, `ConfigMap "Not_Valid" is invalid: metadata.name: Invalid value: "Not_Valid"`},
		{"strict unknown field", "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Strict", "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"},"dta":{}}`), 400, metav1.StatusReasonBadRequest, `strict decoding error: unknown field "dta"`},
		{"wrong kind", "POST", "/api/v1/namespaces/default/configmaps", "application/json", []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"c"}}`), 400, metav1.StatusReasonBadRequest, "does not match the expected kind"},
		{"missing namespace", "POST", "/api/v1/namespaces/nope/configmaps", "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}`), 404, metav1.StatusReasonNotFound, `namespaces "nope" not found`},
		{"too large", "POST", "/api/v1/namespaces/default/configmaps", "application/json", bytes.Repeat([]byte("x"), maxBodyBytes+10), 413, metav1.StatusReasonRequestEntityTooLarge, "Request entity too large: limit is 3145728"},
		{"bad label selector", "GET", "/api/v1/namespaces/default/configmaps?labelSelector=a%20in%20(", "", nil, 400, metav1.StatusReasonBadRequest, ""},
		{"unsupported media type", "POST", "/api/v1/namespaces/default/configmaps", "text/plain", []byte("hi"), 415, metav1.StatusReasonUnsupportedMediaType, ""},
		{"not found", "GET", "/api/v1/namespaces/default/configmaps/zzz", "", nil, 404, metav1.StatusReasonNotFound, `configmaps "zzz" not found`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := ts.do(t, tc.method, tc.path, tc.ct, tc.body)
			if code != tc.code {
				t.Fatalf("code = %d, want %d: %s", code, tc.code, body)
			}
			st := statusOf(t, body)
			if st.Kind != "Status" || st.Reason != tc.reason || int(st.Code) != tc.code {
				t.Errorf("status = kind %q reason %q code %d, want Status %q %d", st.Kind, st.Reason, st.Code, tc.reason, tc.code)
			}
			if !strings.Contains(st.Message, tc.message) {
				t.Errorf("message = %q, want it to contain %q", st.Message, tc.message)
			}
		})
	}
	// Nothing a bad request sent was stored.
	list, err := ts.client.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "a" {
		t.Errorf("after bad requests the namespace holds %d configmaps, want only a", len(list.Items))
	}
}

func TestProtobufRoundTrip(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	created, err := ts.proto.CoreV1().ConfigMaps("default").Create(ctx, cm("p", map[string]string{"x": "y"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.UID == "" || created.ResourceVersion == "" || created.Labels["x"] != "y" {
		t.Errorf("protobuf create returned %+v", created.ObjectMeta)
	}
	list, err := ts.proto.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("protobuf list: %v %v", list, err)
	}
	w, err := ts.proto.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := ts.proto.CoreV1().ConfigMaps("default").Create(ctx, cm("q", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, w)
	if ev.Type != watch.Added || ev.Object.(*corev1.ConfigMap).Name != "q" {
		t.Errorf("protobuf watch got %s %v", ev.Type, ev.Object)
	}
}

func nextEvent(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event within 5s")
	}
	return watch.Event{}
}

func TestWatchFollowsSelector(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	cms := ts.client.CoreV1().ConfigMaps("default")
	w, err := cms.Watch(ctx, metav1.ListOptions{LabelSelector: "tier=web"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := cms.Create(ctx, cm("other", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx, cm("w", map[string]string{"tier": "web"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		patch string
		want  watch.EventType
	}{
		{"", watch.Added},
		{`{"metadata":{"labels":{"tier":"db"}}}`, watch.Deleted},
		{`{"metadata":{"labels":{"tier":"web"}}}`, watch.Added},
		{`{"data":{"k":"changed"}}`, watch.Modified},
	}
	for _, step := range steps {
		if step.patch != "" {
			if _, err := cms.Patch(ctx, "w", types.MergePatchType, []byte(step.patch), metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		ev := nextEvent(t, w)
		if ev.Type != step.want || ev.Object.(*corev1.ConfigMap).Name != "w" {
			t.Fatalf("after %q: got %s %s, want %s w", step.patch, ev.Type, ev.Object.(*corev1.ConfigMap).Name, step.want)
		}
	}
}

func TestWatchTooOldIsGone(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	cms := ts.client.CoreV1().ConfigMaps("default")
	first, err := cms.Create(ctx, cm("first", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 { // more than the history of 20 keeps
		if _, err := cms.Patch(ctx, "first", types.MergePatchType, []byte(`{"data":{"n":"`+string(rune('a'+i%26))+`"}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ev := nextEvent(t, w)
	st, ok := ev.Object.(*metav1.Status)
	if ev.Type != watch.Error || !ok || st.Code != http.StatusGone || st.Reason != metav1.StatusReasonExpired || !strings.Contains(st.Message, "too old resource version") {
		t.Fatalf("watch from a compacted revision got %s %+v, want ERROR 410 Expired", ev.Type, ev.Object)
	}
}

func TestPodDeletionIsGracefulOnANode(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	pods := ts.client.CoreV1().Pods("default")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Target: corev1.ObjectReference{Kind: "Node", Name: "n1"}}
	if err := pods.Bind(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Bind(ctx, binding, metav1.CreateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("second binding: %v, want Conflict", err)
	}
	if err := pods.Delete(ctx, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := pods.Get(ctx, "p", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("a pod on a node must wait for its node: %v", err)
	}
	if got.DeletionTimestamp == nil || got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 30 {
		t.Errorf("deletion = %v grace %v, want a timestamp and 30s", got.DeletionTimestamp, got.DeletionGracePeriodSeconds)
	}
	zero := int64(0)
	if err := pods.Delete(ctx, "p", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "p", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after grace 0 the pod is still there: %v", err)
	}
	// An unbound pod goes at once.
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "p", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("an unbound pod was not deleted at once: %v", err)
	}
}

func TestFinalizersHoldDeletion(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	cms := ts.client.CoreV1().ConfigMaps("default")
	obj := cm("held", nil)
	obj.Finalizers = []string{"example.com/hold"}
	if _, err := cms.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := cms.Get(ctx, "held", metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp == nil {
		t.Fatalf("object with a finalizer: %v, deletionTimestamp %v", err, got)
	}
	if _, err := cms.Patch(ctx, "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx, "held", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("removing the last finalizer did not delete: %v", err)
	}
}

func TestStatusAndGeneration(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	deps := ts.client.AppsV1().Deployments("default")
	two := int32(2)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "d"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &two,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "d"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "d"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
			},
		},
		Status: appsv1.DeploymentStatus{Replicas: 99},
	}
	created, err := deps.Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Generation != 1 || created.Status.Replicas != 0 {
		t.Errorf("create: generation %d status.replicas %d, want 1 and 0 (status is the server's)", created.Generation, created.Status.Replicas)
	}
	created.Status.Replicas = 2
	st, err := deps.UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Generation != 1 || st.Status.Replicas != 2 {
		t.Errorf("status update: generation %d replicas %d, want 1 and 2", st.Generation, st.Status.Replicas)
	}
	labelled, err := deps.Patch(ctx, "d", types.MergePatchType, []byte(`{"metadata":{"labels":{"a":"b"}},"status":{"replicas":7}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if labelled.Generation != 1 || labelled.Status.Replicas != 2 {
		t.Errorf("label patch: generation %d status.replicas %d, want 1 and 2 (a main-resource write keeps status)", labelled.Generation, labelled.Status.Replicas)
	}
	scaled, err := deps.Patch(ctx, "d", types.MergePatchType, []byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if scaled.Generation != 2 {
		t.Errorf("spec change: generation %d, want 2", scaled.Generation)
	}
	sc, err := deps.GetScale(ctx, "d", metav1.GetOptions{})
	if err != nil || sc.Spec.Replicas != 3 || sc.Status.Selector != "app=d" {
		t.Fatalf("scale: %+v %v", sc, err)
	}
	sc.Spec.Replicas = 5
	if _, err := deps.UpdateScale(ctx, "d", sc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := deps.Get(ctx, "d", metav1.GetOptions{}); *got.Spec.Replicas != 5 || got.Generation != 3 {
		t.Errorf("after scale: replicas %d generation %d, want 5 and 3", *got.Spec.Replicas, got.Generation)
	}
	unchanged, err := deps.Update(ctx, scaledAgain(t, deps), metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if unchanged.Generation != 3 {
		t.Errorf("no-op update bumped generation to %d", unchanged.Generation)
	}
}

func scaledAgain(t *testing.T, deps interface {
	Get(context.Context, string, metav1.GetOptions) (*appsv1.Deployment, error)
}) *appsv1.Deployment {
	d, err := deps.Get(context.Background(), "d", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestAuthentication(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct {
		path, token string
		code        int
	}{
		{"/api/v1/namespaces", "", 401},
		{"/api/v1/namespaces", "wrong", 401},
		{"/api/v1/namespaces", testToken, 200},
		{"/healthz", "", 200},
		{"/readyz", "", 200},
		{"/version", "", 200},
	} {
		req, _ := http.NewRequest("GET", ts.url+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("GET %s with token %q: %d, want %d", tc.path, tc.token, resp.StatusCode, tc.code)
		}
	}
}

func TestTablesCarryWhatWasAskedFor(t *testing.T) {
	ts := newTestServer(t)
	if _, err := ts.client.CoreV1().ConfigMaps("default").Create(context.Background(), cm("t", map[string]string{"app": "x"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	accept := "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
	for _, tc := range []struct {
		query, wantKind string
	}{
		{"", "PartialObjectMetadata"},
		{"?includeObject=Object", "ConfigMap"},
		{"?includeObject=None", ""},
	} {
		code, hdr, body := ts.do(t, "GET", "/api/v1/namespaces/default/configmaps"+tc.query, "", nil, "Accept", accept)
		if code != 200 {
			t.Fatalf("table %s: %d %s", tc.query, code, body)
		}
		var tbl metav1.Table
		if err := json.Unmarshal(body, &tbl); err != nil || tbl.Kind != "Table" {
			t.Fatalf("not a Table (%s): %s", hdr.Get("Content-Type"), body)
		}
		if len(tbl.Rows) != 1 || tbl.Rows[0].Cells[0] != "t" || tbl.ColumnDefinitions[1].Name != "Data" {
			t.Errorf("table rows %+v columns %+v", tbl.Rows, tbl.ColumnDefinitions)
		}
		var embedded struct{ Kind string }
		if raw := tbl.Rows[0].Object.Raw; len(raw) > 0 {
			_ = json.Unmarshal(raw, &embedded)
		}
		if embedded.Kind != tc.wantKind {
			t.Errorf("includeObject %q: row object kind %q, want %q", tc.query, embedded.Kind, tc.wantKind)
		}
	}
}

func TestAggregatedDiscovery(t *testing.T) {
	ts := newTestServer(t)
	code, hdr, body := ts.do(t, "GET", "/apis", "", nil, "Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
	if code != 200 {
		t.Fatal(code)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList" {
		t.Errorf("content type %q", ct)
	}
	if !strings.Contains(string(body), `"resource":"deployments"`) || !strings.Contains(string(body), `"subresource":"scale"`) {
		t.Errorf("aggregated discovery lacks deployments/scale: %.300s", body)
	}
	code, _, body = ts.do(t, "GET", "/api/v1", "", nil)
	if code != 200 || !strings.Contains(string(body), `"name":"pods/log"`) || !strings.Contains(string(body), `"shortNames":["po"]`) {
		t.Errorf("legacy /api/v1: %d %.300s", code, body)
	}
}

func TestServerSideApply(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	cms := ts.client.CoreV1().ConfigMaps("default")
	apply := func(manager string, data string, force bool) (*corev1.ConfigMap, error) {
		body := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n" + data)
		return cms.Patch(ctx, "ssa", types.ApplyYAMLPatchType, body, metav1.PatchOptions{FieldManager: manager, Force: &force})
	}
	created, err := apply("alice", "  a: \"1\"\n  b: \"2\"\n", false)
	if err != nil {
		t.Fatal(err)
	}
	if created.Data["a"] != "1" || len(created.ManagedFields) != 1 || created.ManagedFields[0].Manager != "alice" {
		t.Fatalf("apply created %+v", created)
	}
	again, err := apply("alice", "  a: \"1\"\n  b: \"2\"\n", false)
	if err != nil || again.ResourceVersion != created.ResourceVersion {
		t.Errorf("re-applying the same configuration wrote (rv %s → %s, %v)", created.ResourceVersion, again.ResourceVersion, err)
	}
	_, err = apply("bob", "  a: \"changed\"\n", false)
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), `conflict with "alice"`) {
		t.Fatalf("another manager changing alice's field: %v, want a conflict naming alice", err)
	}
	forced, err := apply("bob", "  a: \"changed\"\n", true)
	if err != nil || forced.Data["a"] != "changed" || forced.Data["b"] != "2" {
		t.Fatalf("forced apply: %v %v", forced, err)
	}
	// alice drops b from her configuration: the field she alone owned goes.
	dropped, err := apply("alice", "  a: \"1\"\n", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := dropped.Data["b"]; ok {
		t.Errorf("a field removed from the only owner's configuration stayed: %v", dropped.Data)
	}
	// An ordinary update is tracked too, so its fields are no longer alice's.
	dropped.Data["a"] = "edited"
	if _, err := cms.Update(ctx, dropped, metav1.UpdateOptions{FieldManager: "editor"}); err != nil {
		t.Fatal(err)
	}
	if _, err := apply("alice", "  a: \"1\"\n", false); !apierrors.IsConflict(err) || !strings.Contains(err.Error(), `conflict with "editor"`) {
		t.Errorf("after an edit, applying the edited field: %v, want a conflict naming editor", err)
	}
	code, _, body := ts.do(t, "PATCH", "/api/v1/namespaces/default/configmaps/ssa", "application/apply-patch+yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n"))
	if code != 422 || !strings.Contains(string(body), "fieldManager: Required value") {
		t.Errorf("apply without fieldManager: %d %s", code, body)
	}
}
