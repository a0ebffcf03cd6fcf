// Package errorpage holds the proxyos_error_pages handler: the custom
// error pages of managed routes (404, 502, 503, 504), with a few
// placeholders filled in HTML-escaped.
package errorpage

import (
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// MaxBody bounds the size of one error page.
const MaxBody = 256 << 10

// Statuses are the statuses a page may replace.
var Statuses = []string{"404", "502", "503", "504"}

// Placeholders are the only placeholders a page may use; each is
// filled in HTML-escaped. Any other text in braces stays as written.
var Placeholders = []string{
	"{http.error.status_code}", "{http.error.status_text}", "{http.request.host}", "{http.request.uuid}",
}

// Check checks the page body for status, as a route or the app gives
// it.
func Check(status, body string) error {
	known := false
	for _, s := range Statuses {
		known = known || s == status
	}
	switch {
	case !known:
		return fmt.Errorf("%q is not a status with an error page (%s)", status, strings.Join(Statuses, ", "))
	case strings.TrimSpace(body) == "":
		return errors.New("empty page")
	case len(body) > MaxBody:
		return fmt.Errorf("at most %d KiB", MaxBody>>10)
	}
	return nil
}

// Handler answers the errors of the handlers after it with pages: an
// error with a status that has a page (502 when reverse_proxy cannot
// reach an upstream, 503 when none is healthy, 504 when it timed out,
// any 404) becomes that page, with that status, Content-Type
// text/html, Cache-Control no-store and X-Content-Type-Options nosniff.
// With a 404 page, a 404 response of the handlers after it (an
// upstream's own) is replaced too. Other errors pass on to the server's
// handle_errors.
//
// A page's placeholders ({http.error.status_code},
// {http.error.status_text}, {http.request.host}, {http.request.uuid})
// are filled in HTML-escaped; no other placeholder is expanded, so a
// page cannot read environment variables, files or request headers.
type Handler struct {
	// Pages are the pages by status: "404", "502", "503" or "504".
	Pages map[string]string `json:"pages,omitempty"`

	pages    map[int]template
	notFound template
	logger   *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.proxyos_error_pages",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision parses the pages.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.pages = make(map[int]template, len(h.Pages))
	for status, body := range h.Pages {
		if err := Check(status, body); err != nil {
			return fmt.Errorf("pages: %s: %w", status, err)
		}
		code, _ := strconv.Atoi(status)
		h.pages[code] = parse(body)
	}
	h.notFound = h.pages[http.StatusNotFound]
	return nil
}

// ServeHTTP calls next and answers its errors that have a page.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	var nf *notFoundWriter
	if h.notFound != nil {
		nf = &notFoundWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, page: h.notFound, r: r}
		w = nf
	}
	err := next.ServeHTTP(w, r)
	if err == nil {
		return nil
	}
	var he caddyhttp.HandlerError
	if !errors.As(err, &he) {
		return err
	}
	page, ok := h.pages[he.StatusCode]
	if !ok || (nf != nil && nf.wrote) {
		return err
	}
	if c := h.logger.Check(zap.DebugLevel, "error answered with the route's error page"); c != nil {
		c.Write(zap.Int("status", he.StatusCode), zap.Error(err))
	}
	if nf != nil {
		w = nf.ResponseWriter
	}
	page.write(w, r, he.StatusCode)
	return nil
}

// template is a page split at its placeholders: literal text at even
// indexes, placeholder names (without braces) at odd ones.
type template []string

// parse splits body at the known placeholders.
func parse(body string) template {
	var t template
	for {
		at, name := -1, ""
		for _, p := range Placeholders {
			if i := strings.Index(body, p); i >= 0 && (at < 0 || i < at) {
				at, name = i, p
			}
		}
		if at < 0 {
			return append(t, body)
		}
		t = append(t, body[:at], name[1:len(name)-1])
		body = body[at+len(name):]
	}
}

// write answers with the page, status and the placeholders' values.
func (t template) write(w http.ResponseWriter, r *http.Request, status int) {
	hdr := w.Header()
	for _, name := range []string{"Content-Length", "Content-Encoding", "Content-Range", "Etag", "Last-Modified", "Location"} {
		hdr.Del(name)
	}
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	for i, s := range t {
		if i%2 == 1 {
			s = html.EscapeString(value(s, r, status))
		}
		io.WriteString(w, s) //nolint:errcheck // the client went away
	}
}

// value is the value of a placeholder of Placeholders.
func value(name string, r *http.Request, status int) string {
	switch name {
	case "http.error.status_code":
		return strconv.Itoa(status)
	case "http.error.status_text":
		return http.StatusText(status)
	case "http.request.host":
		return r.Host
	case "http.request.uuid":
		if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
			v, _ := repl.GetString("http.request.uuid")
			return v
		}
	}
	return ""
}

// notFoundWriter replaces a 404 response with the 404 page: the
// response's headers and body are dropped, the page written instead.
type notFoundWriter struct {
	*caddyhttp.ResponseWriterWrapper
	page     template
	r        *http.Request
	wrote    bool // the status line went out
	replaced bool // it was the page's
}

// WriteHeader writes the page instead of a 404.
func (w *notFoundWriter) WriteHeader(status int) {
	if w.wrote {
		return
	}
	if status == http.StatusNotFound {
		w.wrote, w.replaced = true, true
		w.page.write(w.ResponseWriter, w.r, status)
		return
	}
	if status >= 200 {
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write drops the body of a replaced 404.
func (w *notFoundWriter) Write(p []byte) (int, error) {
	if w.replaced {
		return len(p), nil
	}
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// ReadFrom drops the body of a replaced 404.
func (w *notFoundWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.replaced {
		return io.Copy(io.Discard, r)
	}
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriterWrapper.ReadFrom(r)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ io.ReaderFrom               = (*notFoundWriter)(nil)
)
