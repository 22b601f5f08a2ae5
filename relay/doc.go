// Package relay is the mTLS-gated WebSocket relay behind `wsca serve`. It is a TLS 1.2+ listener that verifies
// client certificates against a private CA and its CRLs, applies per-route policy, and relays WebSocket upgrades (and
// plain HTTP, where a route allows it) to backends, with identity headers.
//
// Verification runs in tls.Config.VerifyConnection, which crypto/tls also calls on resumed sessions, so a session
// ticket issued before a revocation does not get a revoked client back in. The certificate is requested, not
// required, at the handshake; each route enforces its requirement in HTTP (403), which works with TLS 1.3 clients
// that do not support post-handshake authentication (Chromium, Node.js).
//
// What sets the relay apart from Apache, nginx or HAProxy is that revocation reaches open sessions: the relay keeps
// a registry of connections with a verified certificate, re-checks them whenever a new CRL (or CA bundle) is loaded
// — by Server.Reload or by the file watcher within a second of the file changing — and cuts those now revoked,
// sending a WebSocket close frame 1008 when the stream is at a frame boundary — to the client and to the backend
// (Server.cutConn). A reload also re-applies the route policy to every open session (reauth.go), so a
// configuration change reaches open WebSockets too. Sessions also end when their certificate expires.
//
// Clients without a verified certificate cannot lock certificate holders out: they are capped per source address,
// kept out of a reserved share of max_connections (the oldest idle one is closed to make room), closed after a
// short idle time and after every refusal (see connLimits).
//
// The CRL comes from a file or from an http(s) URL (crlsource.go, through package crlsync: long-poll of
// `wsca publish`, verification against the client CA bundle, a cached copy for a restart without network). Either
// way a CRL whose number is below the highest already accepted is refused, across restarts.
//
// Relayed WebSockets are cheap while idle: each direction reads into a 256-byte buffer of its session and borrows
// a pooled 32 KiB buffer only while data flows, and after two idle seconds it parks (on Linux): its goroutine ends
// and one epoll waiter per server restarts it when data arrives. An idle session then costs its TLS and TCP state
// and about 1 KiB of relay state — no goroutine, no copy buffer.
//
// One file per concern: server.go (Server, Serve, Shutdown), handshake.go (TLS and VerifyConnection), reload.go
// (Reload and the loader that owns and watches the files), handler.go (ServeHTTP over a per-request exchange),
// upgrade.go, session.go, pump.go, frame.go; docs/architecture.md has the full list.
package relay
