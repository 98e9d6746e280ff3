package statsigmw

import (
	"net/netip"
	"testing"
)

// TestIPAttrTableSpread: the addresses of one network spread over the
// table, instead of sharing a slot and evicting each other at every request.
func TestIPAttrTableSpread(t *testing.T) {
	var table ipAttrTable
	seen := make(map[*ipAttr]bool)
	for _, prefix := range []string{"10.0.0.0/22", "192.0.2.0/24", "2001:db8::/118"} {
		p := netip.MustParsePrefix(prefix)
		n := 0
		for a := p.Addr(); p.Contains(a) && n < 1024; a = a.Next() {
			n++
		}
		clear(seen)
		for a, i := p.Addr(), 0; i < n; a, i = a.Next(), i+1 {
			table.get(a)
		}
		for i := range table {
			if e := table[i].Load(); e != nil && p.Contains(e.addr) {
				seen[e] = true
			}
		}
		// n random keys fill about n(1 - (1-1/1024)^n) of 1024 slots: 63% for
		// n = 1024, 22% for 256.
		if min := n / 2; n >= 1024 && len(seen) < min || n < 1024 && len(seen) < n*3/4 {
			t.Errorf("%d addresses of %s hold %d slots", n, prefix, len(seen))
		}
	}
}
