package cadir

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/store"
)

// One-time bundle pickup (wsca issue --pickup): the encrypted bundle goes into wsca.db instead of onto
// disk, and wsca publish hands it out once at <publish URL>/pickup/<token>.

// SettingPublishURL is the database setting holding wsca publish's public base URL, which pickup links
// start with.
const SettingPublishURL = "publish_url"

// DefaultPickupTTL is how long a pickup link stays valid when no TTL is given.
const DefaultPickupTTL = 24 * time.Hour

// MaxPickupTTL bounds --pickup-ttl: a link is a bearer secret; a month-old one is a forgotten one.
const MaxPickupTTL = 30 * 24 * time.Hour

// ErrNoPublishURL means --pickup was asked for but the CA has no publish URL to build the link from.
var ErrNoPublishURL = errors.New("no publish URL set for pickup links")

// NewPickupToken returns a fresh token: 256 random bits, unpadded base64url (safe in a URL path).
func NewPickupToken(rand io.Reader) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("generating a pickup token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// CheckPublishURL accepts an absolute http or https URL with a host and no query or fragment.
func CheckPublishURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("publish URL %q: want an http:// or https:// URL of wsca publish, like http://pki.example.com", s)
	}
	return nil
}

// PickupLink joins the publish base URL and a token.
func PickupLink(base, token string) string {
	return strings.TrimRight(base, "/") + "/pickup/" + token
}

// PublishURL returns the publish base URL set for this CA ("" when none).
func (d *Dir) PublishURL() (string, error) {
	st, err := d.OpenStore(true)
	if err != nil {
		return "", err
	}
	defer st.Close()
	return st.Setting(SettingPublishURL)
}

// SetPublishURL records the publish base URL (audited).
func (d *Dir) SetPublishURL(u string) error {
	if err := CheckPublishURL(u); err != nil {
		return err
	}
	st, err := d.OpenStore(false)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.SetSetting(SettingPublishURL, u); err != nil {
		return err
	}
	return st.AppendAudit(store.AuditEntry{Time: d.now(), Action: store.ActionSettings, User: d.User, Detail: SettingPublishURL + " " + u})
}

// storePickups puts the bundles of the pickup requests among results into the database under fresh
// tokens, in one transaction, and sets each result's PickupToken and PickupExpires.
func (d *Dir) storePickups(results []IssueResult) error {
	var keys [][sha256.Size]byte
	var ps []store.Pickup
	var idx []int
	now := d.now()
	for i := range results {
		if results[i].pickupBundle == nil {
			continue
		}
		tok, err := NewPickupToken(d.Rand)
		if err != nil {
			return err
		}
		r := &results[i]
		ttl := r.pickupTTL
		if ttl <= 0 {
			ttl = DefaultPickupTTL
		}
		r.PickupToken, r.PickupExpires = tok, now.Add(ttl)
		keys = append(keys, store.PickupKey(tok))
		ps = append(ps, store.Pickup{
			Name: r.Record.Name, Serial: ca.SerialHex(r.Record.Serial), FileName: r.Record.Name + ".p12",
			Created: now, Expires: r.PickupExpires, IssuedBy: d.User, Bundle: results[i].pickupBundle,
		})
		idx = append(idx, i)
	}
	if len(ps) == 0 {
		return nil
	}
	st, err := d.OpenStore(false)
	if err != nil {
		return err
	}
	defer st.Close()
	err = st.AddPickups(keys, ps)
	for _, i := range idx {
		results[i].pickupBundle = nil
		if err != nil {
			results[i].PickupToken = ""
		}
	}
	if err != nil {
		return fmt.Errorf("storing the bundle for pickup: %w", err)
	}
	return nil
}

// checkPickup refuses a pickup without a bundle or with a TTL outside (0, MaxPickupTTL].
func (r *IssueRequest) checkPickup() error {
	if !r.Pickup {
		return nil
	}
	if !r.P12 {
		return errors.New("a pickup hands out a PKCS#12 bundle: it needs --p12")
	}
	if r.PickupTTL < 0 || r.PickupTTL > MaxPickupTTL {
		return fmt.Errorf("pickup TTL %s: want at most %s", r.PickupTTL, MaxPickupTTL)
	}
	return nil
}
