package documents

import "k8s.io/kube-openapi/pkg/common"

// The types below describe kindlike's REST routes to kube-openapi's spec builders, which
// turn them into OpenAPI paths, collect the schemas the routes mention, hoist parameters
// shared by all operations of a path and name shared parameters, as kube-apiserver's
// documents have them.

type routeContainer struct {
	root   string
	routes []common.Route
}

func (c *routeContainer) RootPath() string                   { return c.root }
func (c *routeContainer) PathParameters() []common.Parameter { return nil }
func (c *routeContainer) Routes() []common.Route             { return c.routes }

type route struct {
	method      string
	path        string
	id          string
	tags        []string
	description string
	params      []common.Parameter
	consumes    []string
	produces    []string
	extensions  map[string]interface{}
	body        interface{}
	responses   []common.StatusCodeResponse
}

func (r *route) Method() string                                   { return r.method }
func (r *route) Path() string                                     { return r.path }
func (r *route) OperationName() string                            { return r.id }
func (r *route) Parameters() []common.Parameter                   { return r.params }
func (r *route) Description() string                              { return r.description }
func (r *route) Consumes() []string                               { return r.consumes }
func (r *route) Produces() []string                               { return r.produces }
func (r *route) Metadata() map[string]interface{}                 { return r.extensions }
func (r *route) RequestPayloadSample() interface{}                { return r.body }
func (r *route) ResponsePayloadSample() interface{}               { return nil }
func (r *route) StatusCodeResponses() []common.StatusCodeResponse { return r.responses }

// operationIDAndTags is the builders' hook for operation ids; routes carry theirs.
func operationIDAndTags(r common.Route) (string, []string, error) {
	rt := r.(*route)
	return rt.id, rt.tags, nil
}

type parameter struct {
	name        string
	description string
	kind        common.ParameterKind
	dataType    string
	required    bool
}

func (p *parameter) Name() string               { return p.name }
func (p *parameter) Description() string        { return p.description }
func (p *parameter) Required() bool             { return p.required }
func (p *parameter) Kind() common.ParameterKind { return p.kind }
func (p *parameter) DataType() string           { return p.dataType }
func (p *parameter) AllowMultiple() bool        { return false }

type response struct {
	code    int
	message string
	model   interface{}
}

func (r *response) Code() int          { return r.code }
func (r *response) Message() string    { return r.message }
func (r *response) Model() interface{} { return r.model }
