package apiserver

import (
	"net"
	"net/http"

	"github.com/kindlike/kindlike/controlplane/registry"
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// serveAPIVersions answers /api: the legacy core group, or with aggregated discovery
// asked for, the whole core group's resources in one document.
func (s *Server) serveAPIVersions(w http.ResponseWriter, r *http.Request) {
	out, err := negotiate(r, asDiscoveryV2)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if out.as == asDiscoveryV2 {
		write(w, http.StatusOK, out, s.aggregated(true, out.asVersion))
		return
	}
	v := &metav1.APIVersions{
		TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
		Versions: []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
			{ClientCIDR: "0.0.0.0/0", ServerAddress: serverAddress(r)},
		},
	}
	write(w, http.StatusOK, out, v)
}

func serverAddress(r *http.Request) string {
	if _, _, err := net.SplitHostPort(r.Host); err == nil {
		return r.Host
	}
	return net.JoinHostPort(r.Host, "443")
}

// serveAPIGroups answers /apis.
func (s *Server) serveAPIGroups(w http.ResponseWriter, r *http.Request) {
	out, err := negotiate(r, asDiscoveryV2)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if out.as == asDiscoveryV2 {
		write(w, http.StatusOK, out, s.aggregated(false, out.asVersion))
		return
	}
	list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	list.Groups = append(list.Groups, apiGroups()...)
	write(w, http.StatusOK, out, list)
}

// serveAPIGroup answers /apis/{group}.
func (s *Server) serveAPIGroup(w http.ResponseWriter, r *http.Request, group string) {
	out, err := negotiate(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	for _, g := range apiGroups() {
		if g.Name == group {
			g.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
			write(w, http.StatusOK, out, &g)
			return
		}
	}
	writeError(w, r, notFoundResource())
}

func apiGroups() []metav1.APIGroup {
	var groups []metav1.APIGroup
	for _, gv := range registry.GroupVersions() {
		if gv.Group == "" {
			continue
		}
		gvd := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
		if n := len(groups); n > 0 && groups[n-1].Name == gv.Group {
			groups[n-1].Versions = append(groups[n-1].Versions, gvd)
			continue
		}
		groups = append(groups, metav1.APIGroup{Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{gvd}, PreferredVersion: gvd})
	}
	return groups
}

// serveResourceList answers /api/v1 and /apis/{group}/{version}.
func (s *Server) serveResourceList(w http.ResponseWriter, r *http.Request, gv schema.GroupVersion) {
	out, err := negotiate(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	resources := registry.InGroupVersion(gv)
	if len(resources) == 0 {
		writeError(w, r, notFoundResource())
		return
	}
	list := &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: gv.String(),
	}
	for _, res := range resources {
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: res.Resource, SingularName: res.Singular, Namespaced: res.Namespaced, Kind: res.Kind,
			Verbs: res.Verbs(), ShortNames: res.ShortNames, Categories: res.Categories,
		})
		for _, sub := range res.Subresources {
			verbs, gvk := registry.SubresourceVerbs(sub)
			ar := metav1.APIResource{Name: res.Resource + "/" + sub, Namespaced: res.Namespaced, Kind: res.Kind, Verbs: verbs}
			if gvk.Kind != "" {
				ar.Group, ar.Version, ar.Kind = gvk.Group, gvk.Version, gvk.Kind
			}
			list.APIResources = append(list.APIResources, ar)
		}
	}
	write(w, http.StatusOK, out, list)
}

// aggregated builds the aggregated discovery document of the core group (core) or of
// every other group.
func (s *Server) aggregated(core bool, version string) *apidiscoveryv2.APIGroupDiscoveryList {
	list := &apidiscoveryv2.APIGroupDiscoveryList{}
	list.SetGroupVersionKind(schema.GroupVersionKind{Group: discoveryGroup, Version: version, Kind: asDiscoveryV2})
	for _, gv := range registry.GroupVersions() {
		if (gv.Group == "") != core {
			continue
		}
		vd := apidiscoveryv2.APIVersionDiscovery{Version: gv.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
		for _, res := range registry.InGroupVersion(gv) {
			rd := apidiscoveryv2.APIResourceDiscovery{
				Resource:         res.Resource,
				ResponseKind:     &metav1.GroupVersionKind{Group: res.Group, Version: res.Version, Kind: res.Kind},
				Scope:            apidiscoveryv2.ScopeCluster,
				SingularResource: res.Singular,
				Verbs:            res.Verbs(),
				ShortNames:       res.ShortNames,
				Categories:       res.Categories,
			}
			if res.Namespaced {
				rd.Scope = apidiscoveryv2.ScopeNamespace
			}
			for _, sub := range res.Subresources {
				verbs, gvk := registry.SubresourceVerbs(sub)
				kind := &metav1.GroupVersionKind{Group: res.Group, Version: res.Version, Kind: res.Kind}
				if gvk.Kind != "" {
					kind = &metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind}
				}
				rd.Subresources = append(rd.Subresources, apidiscoveryv2.APISubresourceDiscovery{
					Subresource: sub, ResponseKind: kind, Verbs: verbs,
				})
			}
			vd.Resources = append(vd.Resources, rd)
		}
		n := len(list.Items)
		if n > 0 && list.Items[n-1].Name == gv.Group {
			list.Items[n-1].Versions = append(list.Items[n-1].Versions, vd)
			continue
		}
		gd := apidiscoveryv2.APIGroupDiscovery{Versions: []apidiscoveryv2.APIVersionDiscovery{vd}}
		gd.Name = gv.Group
		list.Items = append(list.Items, gd)
	}
	return list
}
