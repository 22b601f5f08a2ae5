package main

import (
	"fmt"
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
	if o.pickupURL == "" {
		if set == "" {
			return "", fmt.Errorf("--pickup: %w (the link must point at wsca publish)", cadir.ErrNoPublishURL)
		}
		return set, nil
	}
	if err := cadir.CheckPublishURL(o.pickupURL); err != nil {
		return "", usageError{err}
	}
	if set == "" {
		if err := d.SetPublishURL(o.pickupURL); err != nil {
			return "", err
		}
		fmt.Fprintf(g.env.stderr, "wsca: %s is now this CA's publish URL for pickup links\n", o.pickupURL)
	}
	return o.pickupURL, nil
}

// printPickup shows the one-time link; the bundle password is printed by printIssued, once.
func printPickup(g *globals, res *cadir.IssueResult, base string) {
	if res.PickupToken == "" {
		return
	}
	fmt.Fprintf(g.env.stdout, "  pickup link (one download, until %s): %s\n",
		res.PickupExpires.Format("2006-01-02 15:04 MST"), cadir.PickupLink(base, res.PickupToken))
}
