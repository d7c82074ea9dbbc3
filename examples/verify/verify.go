// Verifies a Portcullis X-Auth-Assertion (EdDSA JWT) against the gateway's JWK Set with the Go standard
// library only (crypto/ed25519): typ, key by kid, signature, iss, aud (= this upstream's route name), exp.
//
// Usage:  go run verify.go -jwks http://gateway:8080/.well-known/jwks.json -issuer portcullis \
//                          -audience orders TOKEN             (TOKEN "-" or absent: read from stdin)
// Prints the verified claims as JSON and exits 0; prints "invalid: <reason>" on stderr and exits 1.
//
// In an upstream: one `NewJWKSCache(url)` per process, and `RequireAssertion(keys, issuer, route, next)`
// around the handlers (the claims are then in the request context under ClaimsKey).
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Claims are the assertion's claims as Portcullis writes them.
type Claims struct {
	Iss   string          `json:"iss"`
	Aud   json.RawMessage `json:"aud"`
	Sub   string          `json:"sub"`
	Email string          `json:"email"`
	Roles []string        `json:"roles"`
	Sid   string          `json:"sid"`
	Iat   float64         `json:"iat"`
	Exp   float64         `json:"exp"`
	Jti   string          `json:"jti"`
	Cnf   *struct {
		Jkt string `json:"jkt"`
	} `json:"cnf,omitempty"`
}

// ErrInvalid wraps every reason an assertion is refused.
var ErrInvalid = errors.New("invalid assertion")

func invalid(reason string) error { return fmt.Errorf("%w: %s", ErrInvalid, reason) }

// AssertionTyp is the JOSE header typ of an assertion, exactly as the gateway writes it (access tokens
// carry "at+jwt").
const AssertionTyp = "JWT"

const (
	minRefetch     = 30 * time.Second
	failureBackoff = 5 * time.Second
)

// JWKSCache holds the gateway's Ed25519 keys by kid. An unknown kid triggers one refetch (at most every
// 30 s), which is how a rotated-in key is picked up without a restart. A failed fetch is not retried for
// 5 s, so a gateway that is down is not asked again on every request naming an unknown kid; meanwhile
// such requests are refused with the fetch's reason.
type JWKSCache struct {
	URL       string
	mu        sync.Mutex
	keys      map[string]ed25519.PublicKey
	nextFetch time.Time
	failure   error
	client    *http.Client
}

func NewJWKSCache(url string) *JWKSCache {
	return &JWKSCache{URL: url, keys: map[string]ed25519.PublicKey{}, client: &http.Client{Timeout: 5 * time.Second}}
}

func (c *JWKSCache) fetch() (map[string]ed25519.PublicKey, error) {
	res, err := c.client.Get(c.URL)
	if err != nil {
		return nil, invalid("JWKS unavailable (" + err.Error() + ")")
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, invalid(fmt.Sprintf("JWKS unavailable (HTTP %d)", res.StatusCode))
	}
	// Members of any type: a key with an array member (key_ops) must not make the whole set unreadable.
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&set); err != nil || set.Keys == nil {
		return nil, invalid("JWKS unavailable (not a JWK Set)")
	}
	keys := map[string]ed25519.PublicKey{}
	for _, jwk := range set.Keys {
		str := func(name string) string { s, _ := jwk[name].(string); return s }
		// Only Ed25519 signing keys can verify an assertion; anything else in the set is ignored. The set
		// also holds the access-token keys (tokens.algorithm: EdDSA) and nothing marks them apart: the
		// typ check in VerifyAssertion is what keeps an access token out.
		if str("kty") != "OKP" || str("crv") != "Ed25519" || str("kid") == "" {
			continue
		}
		if (str("alg") != "" && str("alg") != "EdDSA") || (str("use") != "" && str("use") != "sig") {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(str("x"))
		if err != nil || len(x) != ed25519.PublicKeySize {
			continue
		}
		keys[str("kid")] = ed25519.PublicKey(x)
	}
	return keys, nil
}

// Key returns the key for kid, or nil; an error (wrapping ErrInvalid) when the JWK Set cannot be had.
func (c *JWKSCache) Key(kid string) (ed25519.PublicKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.keys[kid]; !ok && !time.Now().Before(c.nextFetch) {
		keys, err := c.fetch()
		if err == nil {
			c.keys, c.failure, c.nextFetch = keys, nil, time.Now().Add(minRefetch)
		} else {
			// The keys already known stay in use; only unknown kids wait for the next try.
			c.failure, c.nextFetch = err, time.Now().Add(failureBackoff)
		}
	}
	if _, ok := c.keys[kid]; !ok && c.failure != nil {
		return nil, c.failure
	}
	return c.keys[kid], nil
}

func decodeJSON(part string, into any) error {
	raw, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return invalid("malformed base64url")
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return invalid("malformed header or payload")
	}
	return nil
}

func audienceMatches(raw json.RawMessage, audience string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == audience
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, a := range many {
			if a == audience {
				return true
			}
		}
	}
	return false
}

// VerifyAssertion returns the claims of a valid assertion minted for audience.
func VerifyAssertion(token string, keys *JWKSCache, issuer, audience string, now time.Time) (*Claims, error) {
	const leeway = 5.0
	if len(token) > 8192 {
		return nil, invalid("not a token")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, invalid("not a compact JWS")
	}
	var header struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}
	if err := decodeJSON(parts[0], &header); err != nil {
		return nil, err
	}
	// The algorithm is pinned: a token cannot choose it (no "none", no HMAC with the public key).
	if header.Alg != "EdDSA" {
		return nil, invalid("unexpected alg")
	}
	// Explicit typing (RFC 8725 §3.11): the gateway's access tokens (typ at+jwt) can be signed by a key in
	// the same JWK Set, and would otherwise pass here whenever tokens.audience is a route name.
	if header.Typ != AssertionTyp {
		return nil, invalid("unexpected typ")
	}
	if header.Kid == "" {
		return nil, invalid("malformed header or payload")
	}
	key, err := keys.Key(header.Kid)
	if err != nil {
		return nil, err
	}
	if key == nil {
		return nil, invalid("unknown kid")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, invalid("malformed base64url")
	}
	if !ed25519.Verify(key, []byte(parts[0]+"."+parts[1]), sig) {
		return nil, invalid("bad signature")
	}
	// Claims are read only after the signature holds.
	var claims Claims
	if err := decodeJSON(parts[1], &claims); err != nil {
		return nil, err
	}
	nowS := float64(now.UnixMilli()) / 1000
	switch {
	case claims.Iss != issuer:
		return nil, invalid("wrong issuer")
	case !audienceMatches(claims.Aud, audience):
		return nil, invalid("wrong audience")
	case claims.Exp == 0 || nowS > claims.Exp+leeway:
		return nil, invalid("expired")
	case claims.Iat > nowS+leeway:
		return nil, invalid("issued in the future")
	case claims.Sub == "":
		return nil, invalid("no subject")
	}
	return &claims, nil
}

type contextKey struct{}

// ClaimsKey is where RequireAssertion puts the verified *Claims in the request context.
var ClaimsKey = contextKey{}

// RequireAssertion refuses (401) any request without a valid assertion for route.
func RequireAssertion(keys *JWKSCache, issuer, route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, err := VerifyAssertion(r.Header.Get("X-Auth-Assertion"), keys, issuer, route, time.Now())
		if err != nil {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ClaimsKey, claims)))
	})
}

func main() {
	jwks := flag.String("jwks", "", "the gateway's /.well-known/jwks.json URL")
	issuer := flag.String("issuer", "portcullis", "tokens.issuer of the gateway")
	audience := flag.String("audience", "", "this upstream's route name")
	flag.Parse()
	if *jwks == "" || *audience == "" {
		fmt.Fprintln(os.Stderr, "usage: go run verify.go -jwks URL -audience ROUTE [-issuer ISS] [TOKEN|-]")
		os.Exit(2)
	}
	token := flag.Arg(0)
	if token == "" || token == "-" {
		raw, _ := io.ReadAll(io.LimitReader(os.Stdin, 16384))
		token = strings.TrimSpace(string(raw))
	}
	claims, err := VerifyAssertion(token, NewJWKSCache(*jwks), *issuer, *audience, time.Now())
	if err != nil {
		fmt.Fprintf(os.Stderr, "invalid: %s\n", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
		os.Exit(1)
	}
	out, _ := json.Marshal(map[string]any{"valid": true, "backend": "crypto/ed25519", "claims": claims})
	fmt.Println(string(out))
}
