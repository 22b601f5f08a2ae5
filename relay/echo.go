package relay

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/coder/websocket"
)

// echoMaxMessage bounds the messages EchoBackend echoes.
const echoMaxMessage = 1 << 20

var echoPage = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>wsca echo</title></head>
<body>
<h1>wsca echo</h1>
<p>Client certificate: <span id="who">{{if .CN}}{{.CN}}{{else}}none{{end}}</span></p>
<p>WebSocket: <span id="status">connecting</span></p>
<p>Echo: <span id="echo"></span></p>
<script>
const status = document.getElementById("status");
const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/secure");
ws.onopen = () => { status.textContent = "open"; ws.send("hello from the browser"); };
ws.onmessage = (e) => { document.getElementById("echo").textContent = e.data; status.textContent = "echoed"; };
ws.onclose = (e) => { status.textContent += " (closed " + e.code + ")"; };
ws.onerror = () => { status.textContent = "error"; };
</script>
</body></html>
`))

// EchoBackend returns a demonstration backend: any WebSocket upgrade (RFC 6455) gets every message echoed back
// with its type; GET / serves a small HTML page whose script opens wss://<host>/secure, sends
// "hello from the browser" and shows the echo in the element with id "echo" (and "echoed" in id "status"). The
// page names the client certificate's CN from the X-Client-Cert-CN header the relay sets. Cross-origin WebSocket
// requests are refused unless the Origin matches the Host or the X-Forwarded-Host the relay sends.
func EchoBackend() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if headerHasToken(r.Header, "Upgrade", "websocket") {
			echoWebSocket(w, r)
			return
		}
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		echoPage.Execute(w, struct{ CN string }{r.Header.Get(HeaderCN)}) //nolint:errcheck // the client may be gone
	})
}

func echoWebSocket(w http.ResponseWriter, r *http.Request) {
	opts := &websocket.AcceptOptions{}
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err == nil && strings.EqualFold(u.Host, r.Header.Get("X-Forwarded-Host")) {
			opts.InsecureSkipVerify = true // same origin as seen through the relay
		}
	}
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		return // Accept has answered the client
	}
	defer c.CloseNow() //nolint:errcheck
	c.SetReadLimit(echoMaxMessage)
	ctx := r.Context()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}
