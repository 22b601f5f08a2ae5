package main

import (
	"cmp"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/wsca/wsca/internal/cadir"
)

// pickupBase checks the --pickup flags and returns the base URL of the link: --pickup-url, or the
// CA's publish URL. The first --pickup-url given is remembered as the CA's publish URL.
func (o *issueOptions) pickupBase(g *globals, d *cadir.Dir) (string, error) {
	if !o.pickup {
		if o.pickupURL != "" || o.pickupTTLSet {
			return "", usageError{fmt.Errorf("--pickup-url and --pickup-ttl need --pickup")}
		}
		return "", nil
	}
	if !o.p12 {
		return "", usageError{fmt.Errorf("--pickup hands out a PKCS#12 bundle: add --p12")}
	}
	if o.from != "" {
		return "", usageError{fmt.Errorf("--pickup works for one NAME at a time, not with --from")}
	}
	if o.pickupTTL < time.Minute || o.pickupTTL > cadir.MaxPickupTTL {
		return "", usageError{fmt.Errorf("--pickup-ttl %s: want between 1m and %s", o.pickupTTL, cadir.MaxPickupTTL)}
	}
	set, err := d.PublishURL()
	if err != nil {
		return "", err
	}
	if o.pickupURL == "" && set == "" {
		return "", fmt.Errorf("--pickup: %w (the link must point at wsca publish)", cadir.ErrNoPublishURL)
	}
	if o.pickupURL != "" {
		if err := cadir.CheckPublishURL(o.pickupURL); err != nil {
			return "", usageError{err}
		}
	}
	base := cmp.Or(o.pickupURL, set)
	if u, err := url.Parse(base); err == nil && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		fmt.Fprintf(g.env.stderr, "wsca: warning: %s is plain HTTP: the link (a bearer secret) and the bundle cross the network in clear; "+
			"serve wsca publish with --tls-cert and give an https:// --pickup-url\n", base)
	}
	if o.pickupURL != "" && set == "" {
		if err := d.SetPublishURL(o.pickupURL); err != nil {
			return "", err
		}
		fmt.Fprintf(g.env.stderr, "wsca: %s is now this CA's publish URL for pickup links\n", o.pickupURL)
	}
	return base, nil
}

// printPickup shows the one-time link; the bundle password is printed by printIssued, once.
func printPickup(g *globals, res *cadir.IssueResult, base string) {
	if res.PickupToken == "" {
		return
	}
	fmt.Fprintf(g.env.stdout, "  pickup link (one download, until %s): %s\n",
		res.PickupExpires.Format("2006-01-02 15:04 MST"), cadir.PickupLink(base, res.PickupToken))
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}
