package interop_test

import (
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestChromiumPickup is issue #13's pickup test with a real browser: wsca issue --p12 --pickup prints a link
// to wsca publish; headless Chromium opens it (the page is captured as a phone-sized screenshot), presses the
// download button (a form POST), and the downloaded bundle, imported into NSS with the password the admin was
// shown, gets a browser through wsca serve. A second visit shows the 410 page; the audit log has the view, the
// download and the refusal with the browser's address and user agent.
//
// WSCA_SCREENSHOT_DIR=docs copies the screenshots to docs/ (pickup-page.png, pickup-used.png).
func TestChromiumPickup(t *testing.T) {
	chromium := requireTool(t, "chromium")
	certutil := requireTool(t, "certutil")
	pk12util := requireTool(t, "pk12util")
	p := newPKI(t, "Pickup Interop")
	pubAddr := "127.0.0.1:" + itoa(freePort(t))
	pub := startProc(t, nil, wscaBin, "publish", "--dir", p.caDir, "--listen", pubAddr)
	pub.waitListening(t, pubAddr)

	out := p.wsca("issue", "dora", "--out", p.dir, "--p12", "--pickup", "--pickup-url", "http://"+pubAddr)
	link := regexp.MustCompile(`pickup link \([^)]*\): (http://\S+/pickup/[A-Za-z0-9_-]{43})\n`).FindStringSubmatch(out)
	pass := regexp.MustCompile(`bundle password [^:]*: (\S+)\n`).FindStringSubmatch(out)
	if link == nil || pass == nil {
		t.Fatalf("wsca issue --pickup printed no link or password:\n%s", out)
	}
	for _, f := range []string{"dora.key", "dora.p12", "pki/dora.p12", "pki/dora.key"} {
		if fileExists(p.file(f)) {
			t.Fatalf("%s written with --pickup", f)
		}
	}

	b := startBrowser(t, chromium, t.TempDir())
	downloads := t.TempDir()
	allowDownloads(t, b, downloads)
	if nav := b.navigate(t, link[1]); nav != "" {
		t.Fatalf("opening the pickup link: %s\n%s", nav, pub.logText())
	}
	text := waitText(t, b, "If you did not expect this certificate")
	for _, want := range []string{"Your certificate: dora.p12", "Download dora.p12", "Android", "iPhone"} {
		if !strings.Contains(text, want) {
			t.Fatalf("pickup page lacks %q:\n%s", want, text)
		}
	}
	screenshot(t, b, "pickup-page.png")

	b.call(t, "Runtime.evaluate", map[string]any{"expression": `document.querySelector("form button").click()`}, nil)
	bundle := waitDownload(t, filepath.Join(downloads, "dora.p12"))
	passFile := p.file("dora.pass")
	if err := os.WriteFile(passFile, []byte(pass[1]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// The second visit (same browser, the link reopened) shows the 410 page.
	if nav := b.navigate(t, link[1]); nav != "" {
		t.Fatalf("reopening the pickup link: %s", nav)
	}
	if text := waitText(t, b, "for a new one"); !strings.Contains(text, "already been used") || !strings.Contains(text, "Ask the administrator of Pickup Interop Intermediate CA") {
		t.Fatalf("second visit:\n%s", text)
	}
	screenshot(t, b, "pickup-used.png")
	b.close(t)
	resp, err := http.Get(link[1])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Fatalf("GET after the download: %d, want 410", resp.StatusCode)
	}

	// The downloaded bundle, imported into NSS, gets a browser through wsca serve.
	r := startRelay(t, p)
	origin := "https://" + r.addr
	writeAutoSelectPolicy(t, origin, p.leaf("dora").Issuer.CommonName)
	home := nssHome(t, certutil, pk12util, p.caFile("root.crt"), bundle, passFile)
	b = startBrowser(t, chromium, home)
	if nav := b.navigate(t, origin+"/"); nav != "" {
		t.Fatalf("dora loading %s/ with the picked-up bundle: %s\n%s", origin, nav, r.proc.logText())
	}
	if page := b.waitPage(t, pageSettled); page.Status != "echoed" || page.Who != "dora" {
		t.Fatalf("dora's page: %+v; want echoed as dora", page)
	}

	audit := p.wsca("audit")
	for _, want := range []string{"pickup-store", "pickup-view", "pickup-download", "pickup-refused"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit log lacks %s:\n%s", want, audit)
		}
	}
	if !strings.Contains(audit, "HeadlessChrome") {
		t.Errorf("audit log lacks the browser's user agent:\n%s", audit)
	}
}

// allowDownloads makes the browser save downloads in dir (a browser-level DevTools command, sent outside the
// page's session).
func allowDownloads(t *testing.T, b *browser, dir string) {
	t.Helper()
	session := b.session
	b.session = ""
	b.call(t, "Browser.setDownloadBehavior", map[string]any{"behavior": "allow", "downloadPath": dir}, nil)
	b.session = session
}

// waitText polls the page's visible text until it holds last (Page.navigate answers when the navigation
// commits, before the document is complete), bounded by 10 s, and returns it.
func waitText(t *testing.T, b *browser, last string) string {
	t.Helper()
	var res struct {
		Result struct {
			Value string `json:"value"`
		} `json:"result"`
	}
	for i := 0; i < 200; i++ {
		expr := `document.readyState === "complete" && document.body ? document.body.innerText : ""`
		b.call(t, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res)
		if strings.Contains(res.Result.Value, last) {
			return res.Result.Value
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("page text lacks %q after 10s:\n%s", last, res.Result.Value)
	return ""
}

// screenshot captures the whole page at a phone's width (412 CSS pixels) into the test's temp dir, and into
// $WSCA_SCREENSHOT_DIR when set.
func screenshot(t *testing.T, b *browser, name string) {
	t.Helper()
	b.call(t, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 412, "height": 900, "deviceScaleFactor": 2, "mobile": true}, nil)
	var shot struct {
		Data string `json:"data"`
	}
	b.call(t, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &shot)
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil || len(png) < 1000 {
		t.Fatalf("screenshot: %d bytes, %v", len(png), err)
	}
	dirs := []string{t.TempDir()}
	if d := os.Getenv("WSCA_SCREENSHOT_DIR"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// waitDownload waits (bounded) until Chromium has finished writing path.
func waitDownload(t *testing.T, path string) string {
	t.Helper()
	for i := 0; i < 200; i++ {
		if st, err := os.Stat(path); err == nil && st.Size() > 0 && !fileExists(path+".crdownload") {
			return path
		}
		time.Sleep(50 * time.Millisecond)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	t.Fatalf("no download at %s after 10s (directory holds %v)", path, entries)
	return ""
}
