package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/labkit/statsigmw"
)

// devHashKey keys the hashed-IP identity offline when IDENTITY_HASH_KEY is
// not set. It is public (it is in this file), so ids made with it are not
// pseudonymous; that is acceptable only for a local demo.
const devHashKey = "statsigmw-example-development-key-not-secret"

// minKeyLen is the shortest IDENTITY_HASH_KEY and SESSION_KEY accepted, in
// bytes (the middleware's minimum for a hash key).
const minKeyLen = 16

// config is the example's configuration, from flags and the environment.
type config struct {
	Addr string
	// Secret is STATSIG_SERVER_SECRET; empty means offline, with the
	// in-process backend.
	Secret string
	// API is STATSIG_API, the Statsig API base URL; empty means Statsig's.
	API string
	// Identity is cookie (default) or IP identity.
	Identity statsigmw.IdentityMode
	// HashKey keys the hashed-IP identity; DevHashKey tells that it is the
	// public development key.
	HashKey    []byte
	DevHashKey bool
	// TrustedProxies are the reverse proxies whose forwarding headers are
	// believed.
	TrustedProxies []netip.Prefix
	// Secure is COOKIE_SECURE: whether the visitor and session cookies are
	// marked Secure.
	Secure statsigmw.SecureMode
	// SessionKey signs the login session cookie; RandomSessionKey tells
	// that it is a random key of this process (SESSION_KEY unset offline).
	SessionKey       []byte
	RandomSessionKey bool
	// Redis is REDIS_URL parsed; nil means no Redis.
	Redis *redis.Options
	// FixedGroup is FIXED_GROUP, a load-test switch: when set (to the name
	// of a group of the experiment, canonically spelled), /tasks is served
	// as that group without the middleware and without the SDK, as the
	// baseline the middleware's cost is measured against.
	FixedGroup string
}

// Offline reports whether the example runs against the in-process backend.
func (c config) Offline() bool { return c.Secret == "" }

// parseConfig reads the configuration from args (flags) and getenv (the
// environment): a flag wins over its variable. The secrets
// (STATSIG_SERVER_SECRET, IDENTITY_HASH_KEY) are read from the environment
// only, so that they do not show in the process list. Usage and flag errors
// are written to out.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	envOr := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("example", flag.ContinueOnError)
	fs.SetOutput(out)
	addr := fs.String("addr", envOr("ADDR", "localhost:8080"), "`host:port` to listen on (env ADDR)")
	api := fs.String("statsig-api", getenv("STATSIG_API"), "Statsig API base `URL`, used with STATSIG_SERVER_SECRET (env STATSIG_API)")
	identity := fs.String("identity", envOr("IDENTITY", "cookie"), "visitor identity: cookie or ip (env IDENTITY)")
	proxies := fs.String("trusted-proxies", getenv("TRUSTED_PROXIES"), "comma-separated `CIDRs` or IPs of trusted reverse proxies (env TRUSTED_PROXIES)")
	secure := fs.String("cookie-secure", envOr("COOKIE_SECURE", "auto"), "mark the cookies Secure: auto (over TLS), always (behind a TLS-terminating proxy) or never (env COOKIE_SECURE)")
	fixed := fs.String("fixed-group", getenv("FIXED_GROUP"), "load tests only: serve /tasks as this `group` (Blue, Green, Red or Orange) without the middleware, visitor identity or SDK calls, as a baseline (env FIXED_GROUP)")
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: go run ./example [flags]\n\n"+
			"Serves the lab's tasks app with the button_color_v3 experiment. Without\n"+
			"STATSIG_SERVER_SECRET it runs offline against an in-process Statsig backend.\n\n"+
			"Environment only, as they hold secrets:\n"+
			"  STATSIG_SERVER_SECRET  a Statsig server secret key; unset: offline\n"+
			"  IDENTITY_HASH_KEY      at least %[1]d bytes, for IDENTITY=ip\n"+
			"  SESSION_KEY            at least %[1]d bytes, signs the login cookie; required with\n"+
			"                         STATSIG_SERVER_SECRET, offline a random key per process\n"+
			"  REDIS_URL              redis://[user:password@]host:port[/db]: config cache and\n"+
			"                         sticky assignments in Redis; unset: no Redis\n\nFlags:\n", minKeyLen)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	c := config{Addr: *addr, Secret: getenv("STATSIG_SERVER_SECRET"), API: *api}
	switch strings.ToLower(strings.TrimSpace(*identity)) {
	case "cookie":
		c.Identity = statsigmw.CookieIdentity
	case "ip":
		c.Identity = statsigmw.IPIdentity
	default:
		return config{}, fmt.Errorf("IDENTITY=%q: want \"cookie\" or \"ip\"", *identity)
	}

	if key := getenv("IDENTITY_HASH_KEY"); key != "" {
		if len(key) < minKeyLen {
			return config{}, fmt.Errorf("IDENTITY_HASH_KEY has %d bytes, want at least %d (for example: openssl rand -hex 32)", len(key), minKeyLen)
		}
		c.HashKey = []byte(key)
	} else if c.Identity == statsigmw.IPIdentity {
		if !c.Offline() {
			return config{}, errors.New("IDENTITY=ip needs IDENTITY_HASH_KEY (at least 16 bytes, the same on every instance) when STATSIG_SERVER_SECRET is set")
		}
		c.HashKey, c.DevHashKey = []byte(devHashKey), true
	}

	var err error
	if c.Secure, err = parseSecure(*secure); err != nil {
		return config{}, err
	}
	if key := getenv("SESSION_KEY"); key != "" {
		if len(key) < minKeyLen {
			return config{}, fmt.Errorf("SESSION_KEY has %d bytes, want at least %d (for example: openssl rand -hex 32)", len(key), minKeyLen)
		}
		c.SessionKey = []byte(key)
	} else {
		if !c.Offline() {
			return config{}, errors.New("SESSION_KEY is required with STATSIG_SERVER_SECRET: at least 16 bytes, the same on every instance, so that a login holds on all of them (for example: openssl rand -hex 32)")
		}
		c.SessionKey, c.RandomSessionKey = make([]byte, 32), true
		if _, err := rand.Read(c.SessionKey); err != nil {
			return config{}, fmt.Errorf("making a session key: %w", err)
		}
	}
	if u := getenv("REDIS_URL"); u != "" {
		if c.Redis, err = redis.ParseURL(u); err != nil {
			// The URL may hold a password: name the problem, not the URL
			// (a url.Error quotes it).
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return config{}, fmt.Errorf("REDIS_URL: want redis://[user:password@]host:port[/db] or rediss://...: %v", err)
		}
		// Deadlines of the store's calls then hold while a reply is awaited.
		c.Redis.ContextTimeoutEnabled = true
	}
	if c.TrustedProxies, err = parseTrustedProxies(*proxies); err != nil {
		return config{}, err
	}
	if v := strings.TrimSpace(*fixed); v != "" {
		if c.FixedGroup, err = canonicalGroup(v); err != nil {
			return config{}, fmt.Errorf("FIXED_GROUP: %w", err)
		}
	}
	return c, nil
}

// parseSecure parses COOKIE_SECURE.
func parseSecure(s string) (statsigmw.SecureMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "auto", "":
		return statsigmw.SecureAuto, nil
	case "always":
		return statsigmw.SecureAlways, nil
	case "never":
		return statsigmw.SecureNever, nil
	}
	return 0, fmt.Errorf("COOKIE_SECURE=%q: want auto (Secure over TLS), always (behind a TLS-terminating proxy) or never", s)
}

// canonicalGroup returns the group of labArms named name, compared without
// regard to case, spelled as the experiment spells it.
func canonicalGroup(name string) (string, error) {
	names := make([]string, 0, len(labArms))
	for _, a := range labArms {
		if strings.EqualFold(a.Group, name) {
			return a.Group, nil
		}
		names = append(names, a.Group)
	}
	return "", fmt.Errorf("%q is not a group of %s; want one of %s", name, experimentName, strings.Join(names, ", "))
}

// parseTrustedProxies parses a comma-separated list of CIDR prefixes, such
// as "10.0.0.0/8, 2001:db8::/32". A bare IP address is taken as a prefix of
// its full length (/32 or /128). Empty items are skipped; host bits of a
// prefix are cleared.
func parseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if strings.Contains(item, "/") {
			p, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("TRUSTED_PROXIES: %q is not a CIDR prefix such as 10.0.0.0/8 or 2001:db8::/32: %v", item, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("TRUSTED_PROXIES: %q is neither a CIDR prefix (10.0.0.0/8) nor an IP address (192.0.2.1)", item)
		}
		if a.Zone() != "" {
			return nil, fmt.Errorf("TRUSTED_PROXIES: %q has a zone; give the address without %%zone", item)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// identityName is the IDENTITY value of m.
func identityName(m statsigmw.IdentityMode) string {
	if m == statsigmw.IPIdentity {
		return "ip"
	}
	return "cookie"
}
