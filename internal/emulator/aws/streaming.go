package aws

import (
	"html/template"
	"net/http"
	"strings"
)

// The streaming URLs CreateStreamingURL mints, as a browser sees them: the
// first GET before expiry shows the session page and starts an ACTIVE
// session; a second GET is refused (403), as is a GET after expiry; an
// unknown token is 404. The real URL format is undocumented (reference §2.6);
// a bearer token in the path is what the emulator uses.

const streamingPath = "/streaming/"

// sessionPath serves the page of a session that is still active (the URL
// itself works once; a person reloads the session, as AppStream's own
// session page allows). Session IDs are random UUIDs.
const sessionPath = "/streaming/session/"

var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
</head>
<body>
<h1>{{.Title}}</h1>
{{if .Message}}<p id="message">{{.Message}}</p>
{{else}}<dl>
<dt>User</dt><dd id="user">{{.S.UserId}}</dd>
<dt>Stack</dt><dd id="stack">{{.S.StackName}}</dd>
<dt>Fleet</dt><dd id="fleet">{{.S.FleetName}}</dd>
<dt>Application</dt><dd id="application">{{if .S.ApplicationId}}{{.S.ApplicationId}}{{else}}(application catalog){{end}}</dd>
<dt>Session context</dt><dd id="session-context">{{.S.SessionContext}}</dd>
<dt>Session</dt><dd id="session">{{.S.Id}}</dd>
{{if .S.EniPrivateIpAddress}}<dt>Instance address</dt><dd id="instance-address">{{.S.EniPrivateIpAddress}}</dd>
{{end}}{{if .Reach}}<dt>Target</dt><dd id="reachability">{{.Reach}}</dd>
{{end}}</dl>
<p><a id="session-link" href="/streaming/session/{{.S.Id}}">Reload this session</a></p>
{{end}}</body>
</html>
`))

type pageData struct {
	Title   string
	Message string
	S       Session
	// Reach is what the session's target looks like from its instance
	// ("reachable via …" or why not), when a reachability function is set.
	Reach string
}

func writePage(w http.ResponseWriter, status int, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, d)
}

func (w *World) serveStreaming(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		rw.Header().Set("Allow", http.MethodGet)
		writePage(rw, http.StatusMethodNotAllowed, pageData{Title: "Method not allowed", Message: "Open this URL in a browser."})
		return
	}
	var res openResult
	if id, ok := strings.CutPrefix(r.URL.Path, sessionPath); ok {
		res = w.sessionPage(id)
	} else {
		res = w.openStreamingURL(strings.TrimPrefix(r.URL.Path, streamingPath))
	}
	d := pageData{Title: res.title, Message: res.message, S: res.session}
	if res.status == http.StatusOK && res.session.SessionContext != "" {
		w.mu.Lock()
		reach := w.reachability
		w.mu.Unlock()
		if reach != nil {
			d.Reach = reach(res.session) // outside the lock: it takes a snapshot of the world
		}
	}
	writePage(rw, res.status, d)
}

// SetReachability sets what the session pages say about a session's target
// (the emulator's packet walker); nil shows nothing.
func (w *World) SetReachability(f func(Session) string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reachability = f
}

// sessionPage is the page of an active session.
func (w *World) sessionPage(id string) openResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	s, ok := w.sessions[id]
	if !ok || s.State != SessionActive {
		return openResult{status: http.StatusNotFound, title: "Not found", message: "This session has ended or does not exist."}
	}
	return openResult{status: http.StatusOK, title: "AppStream 2.0 session", session: *s}
}

// htmlFaultErrors answers injected faults on streaming pages with HTML.
type htmlFaultErrors struct{}

func (htmlFaultErrors) WriteThrottle(w http.ResponseWriter, _ string) {
	writePage(w, http.StatusTooManyRequests, pageData{Title: "Too many requests", Message: "Rate exceeded. Try again later."})
}

func (htmlFaultErrors) WriteServerError(w http.ResponseWriter, status int) {
	writePage(w, status, pageData{Title: "Service error", Message: "The service is unavailable. Try again later."})
}
