package cadir

import (
	"strings"
	"time"

	"github.com/wsca/wsca/store"
)

// Filter selects records for wsca list. Zero values select everything.
type Filter struct {
	Status   string        // "valid", "revoked" or "expired"
	Expiring time.Duration // valid certificates whose NotAfter is within this duration
	Name     string        // exact name, or a prefix when it ends in '*'
	Kinds    []store.Kind  // e.g. ca.KindClient, ca.KindServer; empty: all
}

// List returns the records matching f, in serial order.
func (d *Dir) List(f Filter) ([]store.Record, error) {
	st, err := d.OpenStore(true)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	now := d.now()
	var out []store.Record
	err = st.ForEach(func(r store.Record) error {
		if f.match(r, now) {
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

func (f Filter) match(r store.Record, now time.Time) bool {
	if len(f.Kinds) > 0 {
		found := false
		for _, k := range f.Kinds {
			found = found || k == r.Kind
		}
		if !found {
			return false
		}
	}
	if f.Name != "" {
		if p, ok := strings.CutSuffix(f.Name, "*"); ok {
			if !strings.HasPrefix(r.Name, p) {
				return false
			}
		} else if r.Name != f.Name {
			return false
		}
	}
	status := r.Status(now)
	if f.Status != "" && status != f.Status {
		return false
	}
	if f.Expiring > 0 && (status != "valid" || r.NotAfter.After(now.Add(f.Expiring))) {
		return false
	}
	return true
}
