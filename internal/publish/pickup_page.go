package publish

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/wsca/wsca/store"
)

// pageData is what the pickup pages show. Kind selects the page: offer (200), gone (410), unknown
// (404), busy (429, 503).
type pageData struct {
	Kind   string
	Token  string
	CA     string
	Pickup store.Pickup
}

func (p pageData) Size() string {
	return strconv.FormatFloat(float64(p.Pickup.BundleLen)/1024, 'f', 1, 64) + " KB"
}

func (p pageData) When(t time.Time) string { return t.UTC().Format("2 January 2006, 15:04 UTC") }

// pickupPageTmpl is plain HTML with inline CSS: no script, no external resource, readable on a phone.
var pickupPageTmpl = template.Must(template.New("pickup").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{if eq .Kind "offer"}}Your certificate: {{.Pickup.FileName}}{{else if eq .Kind "gone"}}Link {{if eq .Pickup.State "expired"}}expired{{else if eq .Pickup.State "revoked"}}withdrawn{{else}}already used{{end}}{{else if eq .Kind "unknown"}}Link not valid{{else}}Try again later{{end}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:40em;margin:0 auto;padding:1em;line-height:1.5;color:#1b1b1b;background:#fff}
h1{font-size:1.4em;margin:.3em 0}h2{font-size:1.1em;margin:1.2em 0 .3em}
.box{border:1px solid #ccc;border-radius:6px;padding:.8em 1em;background:#f7f7f7}
button{font-size:1.1em;padding:.7em 1.2em;border:0;border-radius:6px;background:#0b57d0;color:#fff;width:100%;max-width:22em}
dt{font-weight:600;margin-top:.6em}dd{margin:0 0 0 1em}code{background:#eee;padding:0 .2em;word-break:break-all}
.warn{color:#8a1c1c}
</style></head><body>
{{- if eq .Kind "offer"}}
<h1>Your certificate: {{.Pickup.FileName}}</h1>
<p>This page hands you <b>{{.Pickup.FileName}}</b>, a PKCS#12 bundle with your personal client certificate
(<b>{{.Pickup.Name}}</b>) and its private key, issued by {{.CA}}. It lets your browser or device prove who you
are to the services of this organisation.</p>
<div class="box">
<p>The file is protected by a <b>password that you get separately</b> from the person who sent you this link
(it is not in the link). You need it to import the file.</p>
<p class="warn"><b>The download works once.</b> Download on the device where you will use the certificate.
This link is valid until {{.When .Pickup.Expires}}.</p>
<form method="post" action="/pickup/{{.Token}}"><button type="submit">Download {{.Pickup.FileName}} ({{.Size}})</button></form>
</div>
<h2>Importing it</h2>
<dl>
<dt>Windows (Edge, Chrome)</dt><dd>Open the downloaded file, choose <i>Current User</i>, enter the password,
keep <i>Automatically select the certificate store</i>, finish.</dd>
<dt>macOS (Safari, Chrome)</dt><dd>Open the file: Keychain Access asks for the password and adds it to the
<i>login</i> keychain. If it refuses the file, ask for a bundle in the legacy format.</dd>
<dt>Firefox (any system)</dt><dd>Settings → Privacy &amp; Security → Certificates → View Certificates →
Your Certificates → Import…, pick the file, enter the password.</dd>
<dt>Linux (Chrome, Chromium)</dt><dd>Settings → Privacy and security → Security → Manage certificates →
Your certificates → Import, or in a terminal: <code>pk12util -i {{.Pickup.FileName}} -d sql:$HOME/.pki/nssdb</code></dd>
<dt>Android</dt><dd>Settings → Security → Encryption &amp; credentials → Install a certificate → VPN &amp; app
user certificate, pick the file, enter the password, give it a name.</dd>
<dt>iPhone, iPad</dt><dd>Open the downloaded file (Files app), then Settings → General → VPN &amp; Device
Management → the downloaded profile → Install, enter your device code and the password.</dd>
</dl>
<p>When your browser asks which certificate to use for a site of this organisation, choose
<b>{{.Pickup.Name}}</b>. After importing, delete the downloaded file.</p>
<p>If you did not expect this certificate, do not download it; tell the person who sent you the link.</p>
{{- else if eq .Kind "gone"}}
{{- if eq .Pickup.State "expired"}}
<h1>This link has expired</h1>
<p>The certificate bundle {{.Pickup.FileName}} was not downloaded in time: the link expired on
{{.When .Pickup.ClosedAt}} and the file has been deleted.</p>
{{- else if eq .Pickup.State "revoked"}}
<h1>This certificate has been withdrawn</h1>
<p>The certificate in {{.Pickup.FileName}} was revoked before it was downloaded, so the file has been deleted.</p>
{{- else}}
<h1>This link has already been used</h1>
<p>The certificate bundle {{.Pickup.FileName}} was downloaded on {{.When .Pickup.ClosedAt}}, and the link
works only once. The file no longer exists here.</p>
<p class="warn">If that download was not yours, tell the administrator at once: the certificate can be revoked.</p>
{{- end}}
<p><b>Ask the administrator of {{or .CA "the certificate authority"}} who sent you the link for a new one.</b>
{{- with .Pickup.IssuedBy}} (The link was made by the administrator account “{{.}}” on {{$.When $.Pickup.Created}}.){{end}}</p>
{{- else if eq .Kind "unknown"}}
<h1>This link is not valid</h1>
<p>No certificate is waiting at this address. Check that you opened the whole link, exactly as you received
it. If it still does not work, ask the CA administrator who sent it for a new one.</p>
{{- else}}
<h1>Please try again later</h1>
<p>The certificate service is busy. Nothing was downloaded and your link still works: try again in a few
minutes.</p>
{{- end}}
</body></html>
`))

// pickupPage writes one of the pickup pages with status code.
func (s *Server) pickupPage(w http.ResponseWriter, code int, data pageData) {
	if inter, _, err := s.cfg.Dir.Chain(); err == nil {
		data.CA = inter.Subject.CommonName
	}
	var b bytes.Buffer
	if err := pickupPageTmpl.Execute(&b, data); err != nil {
		s.log.Error("rendering the pickup page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}
