package backup

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"math/big"
	"os"

	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

// carryCRLNumbers moves the staged database's CRL numbers forward to the highest number the CA being replaced
// has already used: the one recorded in its database (when it still opens) and the ones in its crl.pem and
// root-crl.pem. A backup is older than the CA it replaces, so its counters are behind what relays, `wsca crl
// fetch` and `wsca publish` have already seen; without this, every consumer would refuse the restored CA's next
// CRLs as a rollback (crlsync.Watermark) until the numbers caught up — for days, with revocations unenforced. CRLs
// of another CA (a restore onto a different CA's directory) are ignored: their numbers are not this CA's. It
// returns a line per scope moved, for the restore's warnings.
func carryCRLNumbers(live *cadir.Dir, staged *store.Store, inter, root *x509.Certificate) ([]string, error) {
	high := map[string]*big.Int{}
	raise := func(scope string, n *big.Int) {
		if n != nil && (high[scope] == nil || n.Cmp(high[scope]) > 0) {
			high[scope] = new(big.Int).Set(n)
		}
	}
	if st, err := live.OpenStoreOnly(true); err == nil {
		for _, scope := range []string{cadir.ScopeIntermediate, cadir.ScopeRoot} {
			if s, err := st.CRLState(scope); err == nil {
				raise(scope, s.Number)
			}
		}
		st.Close()
	}
	for _, name := range []string{cadir.CRLFile, cadir.RootCRLFile} {
		data, err := os.ReadFile(live.File(name))
		if err != nil {
			continue // no published CRL: nothing a consumer can have seen
		}
		crls, err := crl.Parse(data, []*x509.Certificate{inter, root})
		if err != nil {
			continue // another CA's, or damaged: its numbers say nothing about this CA
		}
		for _, c := range crls {
			switch {
			case bytes.Equal(c.Issuer.Raw, inter.Raw):
				raise(cadir.ScopeIntermediate, c.Number)
			case bytes.Equal(c.Issuer.Raw, root.Raw):
				raise(cadir.ScopeRoot, c.Number)
			}
		}
	}
	var moved []string
	for _, scope := range []string{cadir.ScopeIntermediate, cadir.ScopeRoot} {
		n := high[scope]
		if n == nil {
			continue
		}
		cur, err := staged.CRLState(scope)
		if err != nil {
			return nil, err
		}
		if n.Cmp(cur.Number) <= 0 {
			continue
		}
		if err := staged.SetCRLNumber(scope, n); err != nil {
			return nil, err
		}
		moved = append(moved, fmt.Sprintf("%s CRL number carried forward from %s (the backup's) to %s (the replaced CA's last), so that relays and servers accept the next CRL: run wsca crl now to publish one", scope, cur.Number, n))
	}
	return moved, nil
}
