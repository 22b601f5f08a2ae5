//go:build linux

package main

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/wsca/wsca/ca"
)

// The floor of the OCSP workload: a responder that does the least any HTTP/1.1 OCSP responder can do — read
// the request head and its Content-Length body, write a canned response on the kept-alive connection — and,
// for requests with a nonce, one P-256 signature with the same Go crypto wsca uses (the nonce is inside the
// signed data, so no responder can answer it without one). It parses no OCSP and looks nothing up. Run as a
// child process pinned like the responders (`benchtool publish -canned ADDR -canned-resp FILE
// [-canned-sign KEY]`), driven by the same client load, its rate is the most any responder could show in
// this harness on this machine, and its ratio to openssl ocsp the ceiling of the ratio.

// startFloor starts the floor responder answering resp (signing with key when sign is set), pinned to b.cpus.
func (b *publishBench) startFloor(name string, resp []byte, sign bool) (*server, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	respFile := filepath.Join(b.work, name+".der")
	if err := os.WriteFile(respFile, resp, 0o644); err != nil {
		return nil, "", err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	args := []string{self, "publish", "-canned", addr, "-canned-resp", respFile}
	if sign {
		args = append(args, "-canned-sign", filepath.Join(b.pki, "ocsp-signer.key"))
	}
	s, err := startProcess(name, b.work, b.cpus, args...)
	if err != nil {
		return nil, "", err
	}
	if err := s.waitListening(addr); err != nil {
		s.stop()
		return nil, "", err
	}
	return s, "http://" + addr + "/ocsp", nil
}

// serveCanned is the floor responder's process: it answers every request on addr with the response in
// respFile until it is killed (each connection bounded to 50 million requests).
func serveCanned(addr, respFile, keyFile string) error {
	body, err := os.ReadFile(respFile)
	if err != nil {
		return err
	}
	var key crypto.Signer
	if keyFile != "" {
		pemData, err := os.ReadFile(keyFile)
		if err != nil {
			return err
		}
		if key, err = ca.ParseKey(pemData, nil); err != nil {
			return fmt.Errorf("%s: %w", keyFile, err)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	return serveCannedOn(ln, body, key)
}

// serveCannedOn answers every request on ln with body (signing with key when not nil) until ln is closed.
func serveCannedOn(ln net.Listener, body []byte, key crypto.Signer) error {
	out := fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: %d\r\n"+
		"Cache-Control: no-store\r\n\r\n%s", len(body), body)
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go cannedConn(c, out, key)
	}
}

// cannedConn answers the requests of one connection. tbs stands for the data a real response signs (a
// BasicOCSPResponse's tbsResponseData is ~200 bytes with one SingleResponse and a nonce).
func cannedConn(c net.Conn, out []byte, key crypto.Signer) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 4096)
	tbs := bytes.Repeat([]byte{0x30}, 200)
	for range 50_000_000 {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Minute))
		n, err := readHead(br)
		if err != nil {
			return
		}
		if _, err := br.Discard(n); err != nil {
			return
		}
		if key != nil {
			d := sha256.Sum256(tbs)
			if _, err := key.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
				return
			}
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// readHead reads a request head up to its empty line and returns its Content-Length (0 when absent).
func readHead(br *bufio.Reader) (int, error) {
	n := 0
	for range 100 {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			return n, nil
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("Content-Length")) {
			if n, err = strconv.Atoi(string(bytes.TrimSpace(v))); err != nil || n < 0 || n > 1<<20 {
				return 0, fmt.Errorf("bad Content-Length %q", v)
			}
		}
	}
	return 0, fmt.Errorf("request head of more than 100 lines")
}
