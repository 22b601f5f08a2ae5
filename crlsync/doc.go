// Package crlsync keeps a consumer's CRLs current and never lets them go backwards. It is the one owner, for both
// `wsca serve --crl URL` (package relay) and the `wsca crl fetch` sidecar, of:
//
//   - Verify: a downloaded crl.pem is trusted only after every CRL in it verifies against the client CA bundle
//     and every CA of the bundle has its CRL (chain mode) — the transport is not trusted;
//   - Watermark: the highest CRL number accepted per issuer, persisted in a small JSON state file, so that a stale
//     CRL (a sync job, a restored backup, a replayed download) is refused even after a restart;
//   - Fetcher and Poller: conditional GET (ETag, Last-Modified) with the long-poll of `wsca publish`
//     (?wait=, see docs/publish.md), falling back to plain polling against a static web server, with a size
//     limit and a deadline on every request so that a garbage, huge or slow publisher costs a logged error and
//     nothing else;
//   - FileSync: the sidecar's atomic write of a verified CRL to a file that Apache, nginx or HAProxy read.
package crlsync
