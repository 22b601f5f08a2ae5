package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"

	"github.com/coder/websocket"
	"github.com/rogpeppe/go-internal/testscript"
)

// Testscript commands that put a real peer on loopback for the duration of a script, for the messages a
// network failure produces. Each sets VAR to the peer's HOST:PORT.

// cmdListen holds a plain TCP listener: listen VAR (a port another server cannot take).
func cmdListen(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: listen VAR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	ts.Defer(func() { ln.Close() })
	ts.Setenv(args[0], ln.Addr().String())
}

// cmdFreePort finds a loopback address where nothing listens: freeport VAR.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	addr := ln.Addr().String()
	ts.Check(ln.Close())
	ts.Setenv(args[0], addr)
}

// cmdTLSServer starts an HTTPS server with a certificate of a CA unknown to wsca: tlsserver VAR.
func cmdTLSServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: tlsserver VAR")
	}
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	ts.Defer(srv.Close)
	ts.Setenv(args[0], srv.Listener.Addr().String())
}

// cmdWSCloser starts a plain WebSocket server that accepts, then closes with CODE and REASON, as wsca serve
// does when it cuts a revoked certificate: wscloser VAR CODE REASON.
func cmdWSCloser(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: wscloser VAR CODE REASON")
	}
	code, err := strconv.Atoi(args[1])
	ts.Check(err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.Close(websocket.StatusCode(code), args[2])
	}))
	ts.Defer(srv.Close)
	ts.Setenv(args[0], srv.Listener.Addr().String())
}

// cmdCapture sets VAR to the first group of REGEX in the last command's standard output: capture VAR REGEX.
func cmdCapture(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: capture VAR REGEX")
	}
	m := regexp.MustCompile(args[1]).FindStringSubmatch(ts.ReadFile("stdout"))
	if len(m) < 2 {
		ts.Fatalf("capture: no match for %q in stdout", args[1])
	}
	ts.Setenv(args[0], m[1])
}
