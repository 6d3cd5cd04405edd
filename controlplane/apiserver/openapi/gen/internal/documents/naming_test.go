package documents

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestRESTFriendlyName(t *testing.T) {
	for in, want := range map[string]string{
		"k8s.io/api/core/v1.Pod":                             "io.k8s.api.core.v1.Pod",
		"k8s.io/apimachinery/pkg/apis/meta/v1.ObjectMeta":    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
		"k8s.io/apimachinery/pkg/util/intstr.IntOrString":    "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
		"github.com/kindlike/kindlike/controlplane/store.Op": "com.github.kindlike.kindlike.controlplane.store.Op",
		"string": "string",
	} {
		if got := restFriendlyName(in); got != want {
			t.Errorf("restFriendlyName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOperationNaming(t *testing.T) {
	for _, tt := range []struct {
		gv       schema.GroupVersion
		id, tag  string
		groupTag string
	}{
		{schema.GroupVersion{Version: "v1"}, "CoreV1", "core_v1", "core"},
		{schema.GroupVersion{Group: "apps", Version: "v1"}, "AppsV1", "apps_v1", "apps"},
		{schema.GroupVersion{Group: "coordination.k8s.io", Version: "v1"}, "CoordinationV1", "coordination_v1", "coordination"},
		{schema.GroupVersion{Group: "flowcontrol.apiserver.k8s.io", Version: "v1beta3"}, "FlowcontrolApiserverV1beta3", "flowcontrolApiserver_v1beta3", "flowcontrolApiserver"},
	} {
		if got := gvID(tt.gv); got != tt.id {
			t.Errorf("gvID(%v) = %q, want %q", tt.gv, got, tt.id)
		}
		if got := gvTag(tt.gv); got != tt.tag {
			t.Errorf("gvTag(%v) = %q, want %q", tt.gv, got, tt.tag)
		}
		if got := groupTag(tt.gv.Group); got != tt.groupTag {
			t.Errorf("groupTag(%q) = %q, want %q", tt.gv.Group, got, tt.groupTag)
		}
	}
}
