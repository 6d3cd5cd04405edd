package apiserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/kindlike/kindlike/controlplane/registry"
	"github.com/kindlike/kindlike/controlplane/store"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
)

// bookmarkInterval is how often a quiet watch that asked for bookmarks gets one.
const bookmarkInterval = 30 * time.Second

// minWatchTimeout is the shortest server-chosen watch duration; each watch lasts
// between one and two of it, so clients' re-watches spread out, as kube-apiserver does.
const minWatchTimeout = 30 * time.Minute

// watchStream writes watch events in the negotiated format.
type watchStream struct {
	w       http.ResponseWriter
	flusher http.Flusher
	frame   io.Writer
	stream  runtime.Encoder
	object  runtime.Encoder
	server  *Server
	req     *http.Request
	target  target
	out     output
}

func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, t target, opts *metainternalversion.ListOptions) {
	out, err := negotiate(r, asTable, asPartial)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if t.name != "" {
		// A watch of one object is a watch of the collection for that name.
		nameSel := fields.OneTermEqualSelector("metadata.name", t.name)
		if opts.FieldSelector == nil || opts.FieldSelector.Empty() {
			opts.FieldSelector = nameSel
		} else {
			opts.FieldSelector = fields.AndSelectors(opts.FieldSelector, nameSel)
		}
	}
	f, err := newFilter(t.res, opts)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if out.info.StreamSerializer == nil {
		writeError(w, r, notAcceptable(r.Header.Get("Accept")))
		return
	}
	ctx := r.Context()
	// With no resourceVersion (or 0) the watch starts now, with the current state as
	// synthetic ADDED events; with one it starts after it, and with the state only
	// when sendInitialEvents asks.
	var after uint64
	withState := true
	if opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
		rv, err := strconv.ParseUint(opts.ResourceVersion, 10, 64)
		if err != nil {
			writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version: %q", opts.ResourceVersion)))
			return
		}
		after = rv
		withState = opts.SendInitialEvents != nil && *opts.SendInitialEvents
	}
	var initial []runtime.Object
	if withState {
		objs, rev, err := s.list(ctx, t.res, t.namespace, consistentRead(opts.ResourceVersion))
		if err != nil {
			writeError(w, r, err)
			return
		}
		after = rev
		initial = f.keep(objs)
	}
	timeout := minWatchTimeout + time.Duration(rand.Int64N(int64(minWatchTimeout)))
	if opts.TimeoutSeconds != nil && *opts.TimeoutSeconds > 0 {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	ws := s.newWatchStream(w, r, t, out)
	events, err := s.store.Watch(ctx, t.res.Prefix(t.namespace), after)
	ws.start()
	if errors.Is(err, store.ErrCompacted) {
		st := apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", after, s.store.Rev()))
		ws.sendStatus(&st.ErrStatus)
		return
	}
	if err != nil {
		ws.sendStatus(toStatus(storeError(t.res, "", err)))
		return
	}
	for _, o := range initial {
		if ws.send(watch.Added, o) != nil {
			return
		}
	}
	last := after
	if opts.SendInitialEvents != nil && *opts.SendInitialEvents && opts.AllowWatchBookmarks {
		if ws.bookmark(last, true) != nil {
			return
		}
	}
	var tick <-chan time.Time
	if opts.AllowWatchBookmarks {
		ticker := time.NewTicker(bookmarkInterval)
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			if ws.bookmark(last, false) != nil {
				return
			}
		case ev, ok := <-events:
			if !ok {
				return
			}
			last = ev.Entry.Rev
			typ, obj, err := s.filterEvent(t.res, f, ev)
			if err != nil {
				s.log.Error("watch: skipping undecodable event", "key", ev.Entry.Key, "err", err)
				continue
			}
			if obj == nil {
				continue
			}
			if ws.send(typ, obj) != nil {
				return
			}
		}
	}
}

// filterEvent decides what a store event means to a watcher with filter f: an object
// that stops matching is DELETED for it, one that starts matching ADDED.
func (s *Server) filterEvent(res *registry.Resource, f *filter, ev store.Event) (watch.EventType, runtime.Object, error) {
	obj, err := decode(res, ev.Entry)
	if err != nil {
		return "", nil, err
	}
	switch ev.Type {
	case store.Added:
		if f.matches(obj) {
			return watch.Added, obj, nil
		}
	case store.Deleted:
		if f.matches(obj) {
			return watch.Deleted, obj, nil
		}
	case store.Modified:
		now := f.matches(obj)
		if f.everything() || ev.Prev == nil {
			if now {
				return watch.Modified, obj, nil
			}
			return "", nil, nil
		}
		prev, err := decode(res, store.Entry{Key: ev.Entry.Key, Value: ev.Prev, Rev: ev.Entry.Rev})
		if err != nil {
			return "", nil, err
		}
		was := f.matches(prev)
		switch {
		case now && was:
			return watch.Modified, obj, nil
		case now:
			return watch.Added, obj, nil
		case was:
			return watch.Deleted, obj, nil
		}
	}
	return "", nil, nil
}

func (s *Server) newWatchStream(w http.ResponseWriter, r *http.Request, t target, out output) *watchStream {
	ws := &watchStream{w: w, server: s, req: r, target: t, out: out}
	ws.flusher, _ = w.(http.Flusher)
	ws.stream = out.info.StreamSerializer.Serializer
	ws.frame = out.info.StreamSerializer.Framer.NewFrameWriter(w)
	ws.object = out.info.Serializer
	return ws
}

// start sends the response headers; every event after is one frame.
func (ws *watchStream) start() {
	ct := ws.out.info.MediaType
	if ws.out.info.MediaType != runtime.ContentTypeJSON {
		ct += ";stream=watch"
	}
	ws.w.Header().Set("Content-Type", ct)
	ws.w.WriteHeader(http.StatusOK)
	ws.flush()
}

func (ws *watchStream) flush() {
	if ws.flusher != nil {
		ws.flusher.Flush()
	}
}

// send writes one event about obj, in the representation the watcher asked for.
func (ws *watchStream) send(typ watch.EventType, obj runtime.Object) error {
	res := ws.target.res
	var payload runtime.Object
	switch ws.out.as {
	case asTable:
		table, err := ws.server.table(ws.req, res, []runtime.Object{obj}, true, ws.out.asVersion)
		if err != nil {
			return err
		}
		payload = table
	case asPartial:
		m, _ := meta.Accessor(obj)
		p := meta.AsPartialObjectMetadata(m)
		p.SetGroupVersionKind(schema.GroupVersionKind{Group: metav1.GroupName, Version: ws.out.asVersion, Kind: asPartial})
		payload = p
	default:
		obj.GetObjectKind().SetGroupVersionKind(res.GVK())
		payload = obj
	}
	return ws.sendRaw(string(typ), payload)
}

func (ws *watchStream) sendRaw(typ string, obj runtime.Object) error {
	var buf bytes.Buffer
	if err := ws.object.Encode(obj, &buf); err != nil {
		return err
	}
	ev := &metav1.WatchEvent{Type: typ, Object: runtime.RawExtension{Raw: bytes.TrimRight(buf.Bytes(), "\n")}}
	if err := ws.stream.Encode(ev, ws.frame); err != nil {
		return err
	}
	ws.flush()
	return nil
}

func (ws *watchStream) sendStatus(st *metav1.Status) {
	st.Kind, st.APIVersion = "Status", "v1"
	_ = ws.sendRaw(string(watch.Error), st)
}

// bookmark tells the watcher it has seen everything up to rev.
func (ws *watchStream) bookmark(rev uint64, initialEventsEnd bool) error {
	obj := ws.target.res.New()
	m, _ := meta.Accessor(obj)
	m.SetResourceVersion(strconv.FormatUint(rev, 10))
	if initialEventsEnd {
		m.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
	}
	return ws.sendRaw(string(watch.Bookmark), obj)
}
