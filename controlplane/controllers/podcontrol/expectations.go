package podcontrol

import (
	"sync"
	"time"
)

// ExpectationsTTL bounds how long a controller waits for its informer to show what
// it asked for; past it the controller trusts its cache again (a lost watch event
// must not stall a workload forever).
const ExpectationsTTL = time.Minute

// Expectations remember, per owner key, the pod creations and deletions a
// controller has asked for and its informer has not shown yet. A controller syncs
// its replica count only once they are satisfied, so a cache that lags behind its
// own writes never makes it create or delete twice.
type Expectations struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]*expectation
}

type expectation struct {
	adds    int
	deletes map[string]bool // pod keys (namespace/name) awaiting deletion
	since   time.Time
}

// NewExpectations makes an empty set.
func NewExpectations() *Expectations {
	return &Expectations{now: time.Now, m: map[string]*expectation{}}
}

// ExpectCreations records that n pods are being created for key.
func (e *Expectations) ExpectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.get(key)
	x.adds += n
	x.since = e.now()
}

// ExpectDeletions records that the pods named by podKeys are being deleted for key.
func (e *Expectations) ExpectDeletions(key string, podKeys ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.get(key)
	for _, p := range podKeys {
		x.deletes[p] = true
	}
	x.since = e.now()
}

// CreationObserved lowers key's pending creations by one: the informer showed a
// new pod, or a create failed and will never show.
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok && x.adds > 0 {
		x.adds--
	}
}

// DeletionObserved forgets a pending deletion of podKey: the informer showed the
// pod terminating or gone, or its delete failed.
func (e *Expectations) DeletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.deletes, podKey)
	}
}

// Satisfied says whether key may act on its cache: nothing pending, or waited
// longer than ExpectationsTTL.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if x.adds <= 0 && len(x.deletes) == 0 {
		return true
	}
	return e.now().Sub(x.since) > ExpectationsTTL
}

// Forget drops key's record, when its owner is deleted.
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}

func (e *Expectations) get(key string) *expectation {
	x, ok := e.m[key]
	if !ok || (x.adds <= 0 && len(x.deletes) == 0) {
		x = &expectation{deletes: map[string]bool{}}
		e.m[key] = x
	}
	return x
}
