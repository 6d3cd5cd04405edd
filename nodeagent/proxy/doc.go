// Package proxy is kindlike's kube-proxy: it programs a node's nftables so Service
// addresses reach their endpoints.
package proxy
