//go:build linux

// Command benchtool is wsca's benchmark harness: it runs each workload against wsca and its peers
// (OpenSSL for the CA; nginx, HAProxy, Apache and a direct TLS echo for the relay), repeats every
// measurement with the peers interleaved (A B A B …), and reports medians, min–max and the ratio
// peer/wsca taken within each repetition. scripts/bench builds and drives it; see docs/benchmarks.md.
//
// Subcommands:
//
//	benchtool ca     -wsca BIN -out DIR [-quick] [-reps N]   CA workloads: issue, issue --from, crl, CRL reload
//	benchtool relay  -wsca BIN -out DIR [-quick] [-reps N] [-layout isolated|shared] [-sessions N]
//	                 relay workloads: rtt, handshake, bulk (each with the proxy's CPU per unit), idle, revoke; sessions
//	benchtool publish -wsca BIN -out DIR -work DIR            publisher workloads: propagation, OCSP, idle long-polls
//	benchtool echo   -listen ADDR [-cert F -key F -ca F -crl F]  WebSocket echo: the backend, or (TLS) the direct peer
//	benchtool rtt    -addr ADDR -cert F -key F -root F [-conns 50 -trips 100 -size 128]  one rtt run, to profile a relay by hand
//	benchtool report -in DIR/results.json [-png FILE]        reprint the table (and draw the plot) from saved results
//	benchtool reload-child -impl wsca|stdlib -crl F -ca F    one CRL load in a fresh process (used by ca)
//	benchtool crl-fixture -wsca BIN -dir DIR -n N           a CA directory with N revocations, to profile wsca crl
//
// Every loop is bounded by a count and every child process by a timeout; nothing listens beyond loopback.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: benchtool ca|relay|publish|renew|echo|report|reload-child|crl-fixture [flags]")
		return 2
	}
	var err error
	switch args[0] {
	case "ca":
		err = runCA(args[1:], stdout, stderr)
	case "report":
		err = runReport(args[1:], stdout)
	case "reload-child":
		err = runReloadChild(args[1:], stdout)
	case "crl-fixture":
		err = runFixture(args[1:], stdout)
	case "relay":
		err = runRelay(args[1:], stdout, stderr)
	case "renew":
		err = runRenewBench(args[1:], stdout, stderr)
	case "echo":
		err = runEcho(args[1:], stderr)
	case "rtt":
		err = runRTTCmd(args[1:], stdout)
	case "publish":
		err = runPublish(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "benchtool: unknown subcommand %q\n", args[0])
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "benchtool: error: %v\n", err)
		return 1
	}
	return 0
}
