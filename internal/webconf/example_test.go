package webconf_test

import (
	"fmt"
	"strings"

	"github.com/wsca/wsca/internal/webconf"
)

func ExampleRender() {
	out, err := webconf.Render(webconf.Nginx, webconf.Params{
		CAFile: "/etc/wsca/ca.crt", CRLFile: "/etc/wsca/crl.pem",
		CertFile: "/etc/wsca/relay.crt", KeyFile: "/etc/wsca/relay.key",
		Backend: "ws://127.0.0.1:9000", ServerName: "relay.example.com", Listen: 443,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		for _, d := range []string{"ssl_verify", "ssl_client_certificate", "ssl_crl", "proxy_pass"} {
			if strings.HasPrefix(line, d) {
				fmt.Println(line)
			}
		}
	}
	// Output:
	// ssl_verify_client on;
	// ssl_verify_depth 2;
	// ssl_client_certificate /etc/wsca/ca.crt;
	// ssl_crl /etc/wsca/crl.pem;
	// proxy_pass http://127.0.0.1:9000;
}
