package redisstore

import (
	"strings"
	"testing"
)

// FuzzStickyKey: any key (a unit id is untrusted input) maps to a bounded
// Redis key or is refused, and distinct keys never share a Redis key.
func FuzzStickyKey(f *testing.F) {
	for _, s := range []string{
		"", ":", "a:", ":userID", "u:userID", "a:b:c:stableID",
		"0b4e1c1e-7a34-4a53-9f1e-2f8a1c0d9e11:stableID",
		strings.Repeat("x", 200) + ":userID", "\x00:\xff", "sticky#ab:userID",
	} {
		f.Add(s, "u:userID", 16)
	}
	f.Fuzz(func(t *testing.T, a, b string, maxBytes int) {
		if maxBytes <= 0 || maxBytes > 1024 {
			maxBytes = defaultMaxKeyBytes
		}
		const prefix = "p:"
		ra, okA := stickyKey(prefix, a, maxBytes)
		i := strings.LastIndexByte(a, ':')
		if wantOK := i > 0 && i < len(a)-1; okA != wantOK {
			t.Fatalf("stickyKey(%q) ok = %v; want %v", a, okA, wantOK)
		}
		if !okA {
			return
		}
		if limit := len(prefix) + len("sticky:") + max(maxBytes, 64); len(ra) > limit {
			t.Fatalf("stickyKey(%q) has %d bytes; limit %d", a, len(ra), limit)
		}
		if len(a) <= maxBytes && ra != prefix+"sticky:"+a {
			t.Fatalf("stickyKey(%q) = %q; want it readable", a, ra)
		}
		if again, _ := stickyKey(prefix, a, maxBytes); again != ra {
			t.Fatalf("stickyKey(%q) not deterministic", a)
		}
		if rb, okB := stickyKey(prefix, b, maxBytes); okB && a != b && ra == rb {
			t.Fatalf("%q and %q share the Redis key %q", a, b, ra)
		}
	})
}

// FuzzDecodeSticky: whatever a Redis hash holds, decoding never panics and
// keeps only values with a rule id.
func FuzzDecodeSticky(f *testing.F) {
	f.Add("exp", `{"value":false,"json_value":{"color":"blue"},"rule_id":"r1","group_name":"Blue","secondary_exposures":[],"time":1,"undelegated_secondary_exposures":null}`)
	f.Add("exp", "null")
	f.Add("exp", "{}")
	f.Add("exp", `{"rule_id":7}`)
	f.Add("", `{"rule_id":"r","json_value":[1]}`)
	f.Add("exp", `{"rule_id":"r","time":"1"}`)
	f.Fuzz(func(t *testing.T, field, raw string) {
		values, corrupt := decodeSticky(map[string]string{field: raw})
		if len(values)+len(corrupt) != 1 {
			t.Fatalf("decoded %d values and %d corrupt from one field", len(values), len(corrupt))
		}
		if v, ok := values[field]; ok && v.RuleID == "" {
			t.Fatalf("kept a value without a rule id from %q", raw)
		}
	})
}

// FuzzParseSpecs: the time of any stored or written config never panics
// and is never negative, and any stored time is judged without panicking.
func FuzzParseSpecs(f *testing.F) {
	f.Add(`{"has_updates":true,"time":1700000000000}`)
	f.Add(`{"time":-5}`)
	f.Add(`{"time":1e30}`)
	f.Add(`not json`)
	f.Add(`{"time":"12"}`)
	f.Add(`{"time":12,"hashed_sdk_key_used":"abc"}`)
	f.Fuzz(func(t *testing.T, value string) {
		sp := parseSpecs(value)
		if sp.time < 0 || sp.value != value {
			t.Fatalf("parseSpecs(%q) = time %d", value, sp.time)
		}
		invalidStored(value, sp.sdkKey, "ours")
	})
}
