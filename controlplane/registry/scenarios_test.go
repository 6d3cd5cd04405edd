package registry

import (
	"k8s.io/apimachinery/pkg/runtime"
	"path/filepath"
	"testing"
)

// Every tutorial manifest must be accepted as it is, as a real cluster accepts it.
func TestScenariosAreValid(t *testing.T) {
	for _, file := range scenarioFiles(t) {
		for _, obj := range decodeFile(t, file) {
			r := resourceFor(t, obj)
			name := objectMeta(t, obj).Name
			t.Run(filepath.Base(file)+"/"+r.Resource+"/"+name, func(t *testing.T) {
				if errs := createObject(t, r, obj); len(errs) != 0 {
					t.Fatalf("create: %v", errs.ToAggregate())
				}
				// Applying the same manifest again is an update that changes nothing.
				again := decodeFile(t, file)
				for _, o := range again {
					if resourceFor(t, o) == r && objectMeta(t, o).Name == name {
						if errs := updateObject(t, r, o, obj.DeepCopyObject()); len(errs) != 0 {
							t.Fatalf("re-apply: %v", errs.ToAggregate())
						}
					}
				}
			})
		}
	}
}

// What the tutorials' kubectl commands send, as kubectl v1.32 builds the objects.
func TestTutorialCommands(t *testing.T) {
	for _, doc := range []string{
		// kubectl create ns demo
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\nspec: {}\nstatus: {}",
		// kubectl create configmap cm-demo-all-env --from-literal=a=1 --from-literal=b=2 -n demo
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-demo-all-env, namespace: demo}\ndata: {a: \"1\", b: \"2\"}",
		// kubectl create secret generic mysecret --from-literal=token=abc -n demo
		"apiVersion: v1\nkind: Secret\nmetadata: {name: mysecret, namespace: demo}\ndata: {token: YWJj}",
		// kubectl run client --image=busybox:1.31 -it --rm -- nslookup nginx-demo.demo
		`apiVersion: v1
kind: Pod
metadata: {name: client, labels: {run: client}}
spec:
  containers:
  - name: client
    image: busybox:1.31
    args: [nslookup, nginx-demo.demo]
    stdin: true
    stdinOnce: true
    tty: true
    resources: {}
  dnsPolicy: ClusterFirst
  restartPolicy: Always
status: {}`,
	} {
		obj := decodeYAML[runtime.Object](t, doc)
		r := resourceFor(t, obj)
		if errs := createObject(t, r, obj); len(errs) != 0 {
			t.Errorf("%s: %v", r.Resource, errs.ToAggregate())
		}
	}
}
