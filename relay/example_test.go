package relay_test

import (
	"fmt"

	"github.com/wsca/wsca/relay"
)

func ExampleParseConfig() {
	cfg, err := relay.ParseConfig([]byte(`
listen: 127.0.0.1:8443
tls: {cert: server.crt, key: server.key}
client_ca: pki/ca.crt
crl: pki/crl.pem
routes:
  - path: /secure
    backend: ws://127.0.0.1:8080
    allow_cn: [alice, bob]
    idle_timeout: 10m
  - path: /public
    backend: ws://127.0.0.1:8081
    require_client_cert: false
`), "/etc/wsca")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.CRL, cfg.VerifyDepth)
	for _, r := range cfg.Routes {
		fmt.Println(r.Path, r.Backend, r.RequiresClientCert(), r.IsWebSocketOnly(), r.IdleTimeout.D())
	}
	_, err = relay.ParseConfig([]byte("listen: 127.0.0.1:8443\nbackend: ws://x\n"), "/")
	fmt.Println(err)
	// Output:
	// /etc/wsca/pki/crl.pem 2
	// /secure ws://127.0.0.1:8080 true true 10m0s
	// /public ws://127.0.0.1:8081 false true 0s
	// invalid relay configuration: unknown key backend at line 2; backend belongs under routes:
}
