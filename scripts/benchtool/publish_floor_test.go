//go:build linux

package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"
)

// TestFloorResponder: the OCSP floor answers POSTs with its canned bytes on one kept-alive connection, with
// and without signing, so its rate is comparable with wsca publish's.
func TestFloorResponder(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x30, 0x03, 0x0a, 0x01, 0x00}
	for _, sign := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if sign {
				_ = serveCannedOn(ln, want, key)
			} else {
				_ = serveCannedOn(ln, want, nil)
			}
		}()
		tr := &http.Transport{}
		c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		reused := 0
		for i := range 3 {
			trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
				if ci.Reused {
					reused++
				}
			}}
			req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/ocsp", bytes.NewReader(bytes.Repeat([]byte{1}, 80+i)))
			req.Header.Set("Content-Type", "application/ocsp-request")
			resp, err := c.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, want) {
				t.Fatalf("sign=%v request %d: HTTP %d %x %v", sign, i, resp.StatusCode, got, err)
			}
		}
		if reused != 2 {
			t.Errorf("sign=%v: %d of 2 follow-up requests reused the connection", sign, reused)
		}
		tr.CloseIdleConnections()
		ln.Close()
		<-done
	}
}

func TestReadHeadRefusesBadLength(t *testing.T) {
	for _, head := range []string{"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"} {
		if _, err := readHead(bufioReader(head)); err == nil {
			t.Errorf("%q: no error", head)
		}
	}
	if n, err := readHead(bufioReader("POST / HTTP/1.1\r\ncontent-length: 12\r\n\r\n")); n != 12 || err != nil {
		t.Errorf("lower-case Content-Length: %d %v", n, err)
	}
}

func TestOCSPMedians(t *testing.T) {
	a := []ocspResult{{rps: 100, cpuPer: 10}, {rps: 300, cpuPer: 30}, {rps: 200, cpuPer: 20}}
	b := []ocspResult{{rps: 10, cpuPer: 100}, {rps: 30, cpuPer: 600}, {rps: 40, cpuPer: 100}}
	if got := perRun(a, b); got[0] != 10 || got[1] != 10 || got[2] != 5 {
		t.Errorf("perRun = %v", got)
	}
	if got := cpuPerRun(a, b); got[0] != 10 || got[1] != 20 || got[2] != 5 {
		t.Errorf("cpuPerRun = %v", got)
	}
	if m := medianOCSP(a); m.rps != 200 || m.cpuPer != 20 {
		t.Errorf("medianOCSP = %+v", m)
	}
	if m := medianF([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("medianF = %v", m)
	}
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }
