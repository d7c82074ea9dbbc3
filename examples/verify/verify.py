#!/usr/bin/env python3
# Verifies a Portcullis X-Auth-Assertion (EdDSA JWT) against the gateway's JWK Set: typ, key by kid,
# signature, iss, aud (= this upstream's route name), exp. Standard library only; uses `cryptography` when
# installed.
#
# Usage:  python3 verify.py --jwks http://gateway:8080/.well-known/jwks.json --issuer portcullis \
#                           --audience orders [--pure] TOKEN      (TOKEN "-" or absent: read from stdin)
# Prints the verified claims as JSON and exits 0; prints "invalid: <reason>" on stderr and exits 1.
#
# In an upstream, import it and call `verify_assertion(request.headers["X-Auth-Assertion"], keys, ...)`
# with one `JwksCache` per process. Never trust X-User-* alone if the network path to you is not private.
import base64
import binascii
import hashlib
import http.client
import json
import sys
import threading
import time
import urllib.error
import urllib.request

try:  # The fast path: OpenSSL through the `cryptography` package, when it is installed.
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:  # pragma: no cover - depends on the environment
    Ed25519PublicKey = None


class InvalidAssertion(Exception):
    """The assertion must not be trusted; the message says why (safe to log)."""


# The JOSE header `typ` of an assertion, exactly as the gateway writes it (access tokens carry "at+jwt").
ASSERTION_TYP = "JWT"


# ---------------------------------------------------------------------------------------------------
# Pure-Python Ed25519 verification: the algorithm of RFC 8032, Section 6 ("Ed25519 Python
# illustration"), reduced to verification. It is not constant-time, which does not matter here: it only
# handles public data (the key, the message and the signature). About 10-20 ms per verification.
# ---------------------------------------------------------------------------------------------------
_P = 2**255 - 19
_Q = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _point_add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    pa = (y1 - x1) * (y2 - x2) % _P
    pb = (y1 + x1) * (y2 + x2) % _P
    pc = 2 * t1 * t2 * _D % _P
    pd = 2 * z1 * z2 % _P
    e, f, g, h = pb - pa, pd - pc, pd + pc, pb + pa
    return (e * f, g * h, f * g, e * h)


def _point_mul(s, point):
    result = (0, 1, 1, 0)  # the neutral element
    while s > 0:
        if s & 1:
            result = _point_add(result, point)
        point = _point_add(point, point)
        s >>= 1
    return result


def _point_equal(a, b):
    # x1 / z1 == x2 / z2 and y1 / z1 == y2 / z2, without inversions
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _recover_x(y, sign):
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _point_decompress(s):
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_G_Y = 4 * pow(5, _P - 2, _P) % _P
_G_X = _recover_x(_G_Y, 0)
_G = (_G_X, _G_Y, 1, _G_X * _G_Y % _P)


def ed25519_verify_pure(public, message, signature):
    """RFC 8032 §5.1.7 verification: True only for a valid signature of `message` by `public`."""
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _point_decompress(public)
    if a is None:
        return False
    r_bytes = signature[:32]
    r = _point_decompress(r_bytes)
    if r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _Q:  # RFC 8032 §5.1.7 step 1: refuses the malleable form of a signature
        return False
    h = int.from_bytes(hashlib.sha512(r_bytes + public + message).digest(), "little") % _Q
    return _point_equal(_point_mul(s, _G), _point_add(r, _point_mul(h, a)))


def ed25519_verify(public, message, signature, pure=False):
    if pure or Ed25519PublicKey is None:
        return ed25519_verify_pure(public, message, signature)
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


# ---------------------------------------------------------------------------------------------------
# JWT and JWK Set handling
# ---------------------------------------------------------------------------------------------------
def _b64url(part):
    # A length of 4n+1 is not base64url at all (binascii.Error), not a short signature.
    if not isinstance(part, str) or len(part) % 4 == 1 or any(c not in _B64URL for c in part):
        raise InvalidAssertion("malformed base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except binascii.Error:
        raise InvalidAssertion("malformed base64url") from None


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class JwksCache:
    """The gateway's public keys by kid. An unknown kid triggers one refetch (at most every 30 s), which
    is how a rotated-in key is picked up without a restart. A failed fetch is not retried for
    `failure_backoff_seconds`: without that, every request naming an unknown kid would hit the gateway
    while it is down; meanwhile such requests are refused with the fetch's reason."""

    def __init__(self, url, min_refetch_seconds=30, failure_backoff_seconds=5, timeout=5):
        self.url = url
        self.min_refetch = min_refetch_seconds
        self.failure_backoff = failure_backoff_seconds
        self.timeout = timeout
        self._keys = {}
        self._next_fetch = float("-inf")
        self._failure = None
        self._lock = threading.Lock()

    def _fetch(self):
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as res:
                document = json.loads(res.read(1 << 20))
        except urllib.error.HTTPError as err:
            raise InvalidAssertion(f"JWKS unavailable (HTTP {err.code})") from None
        except urllib.error.URLError as err:
            raise InvalidAssertion(f"JWKS unavailable ({err.reason})") from None
        except (OSError, http.client.HTTPException, ValueError) as err:  # timeout, reset, not JSON
            raise InvalidAssertion(f"JWKS unavailable ({type(err).__name__})") from None
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise InvalidAssertion("JWKS unavailable (not a JWK Set)")
        keys = {}
        for jwk in document["keys"]:
            # Only Ed25519 signing keys can verify an assertion; anything else in the set is ignored.
            # The set also holds the access-token keys (tokens.algorithm: EdDSA) and nothing marks them
            # apart: the `typ` check in verify_assertion is what keeps an access token out.
            if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
                continue
            if jwk.get("alg", "EdDSA") != "EdDSA" or jwk.get("use", "sig") != "sig":
                continue
            kid, x = jwk.get("kid"), jwk.get("x")
            if not isinstance(kid, str) or not isinstance(x, str):
                continue
            try:
                public = _b64url(x)
            except InvalidAssertion:
                continue
            if len(public) == 32:
                keys[kid] = public
        return keys

    def key(self, kid):
        with self._lock:
            if kid not in self._keys and time.monotonic() >= self._next_fetch:
                try:
                    self._keys = self._fetch()
                    self._failure = None
                    self._next_fetch = time.monotonic() + self.min_refetch
                except InvalidAssertion as err:
                    # The keys already known stay in use; only unknown kids wait for the next try.
                    self._failure = str(err)
                    self._next_fetch = time.monotonic() + self.failure_backoff
            if kid not in self._keys and self._failure is not None:
                raise InvalidAssertion(self._failure)
            return self._keys.get(kid)


def verify_assertion(token, keys, issuer, audience, leeway_seconds=5, pure=False, now=None):
    """Returns the claims of a valid assertion minted for `audience`; raises InvalidAssertion otherwise."""
    if not isinstance(token, str) or len(token) > 8192:
        raise InvalidAssertion("not a token")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidAssertion("not a compact JWS")
    try:
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
    except ValueError:
        raise InvalidAssertion("malformed header or payload") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidAssertion("malformed header or payload")
    # The algorithm is pinned: a token cannot choose it (no "none", no HMAC with the public key).
    if header.get("alg") != "EdDSA":
        raise InvalidAssertion("unexpected alg")
    # Explicit typing (RFC 8725 §3.11): the gateway's access tokens (typ at+jwt) can be signed by a key in
    # the same JWK Set, and would otherwise pass here whenever tokens.audience is a route name.
    if header.get("typ") != ASSERTION_TYP:
        raise InvalidAssertion("unexpected typ")
    kid = header.get("kid")
    if not isinstance(kid, str) or kid == "":
        raise InvalidAssertion("malformed header or payload")
    public = keys.key(kid)
    if public is None:
        raise InvalidAssertion("unknown kid")
    signed = (parts[0] + "." + parts[1]).encode("ascii")
    if not ed25519_verify(public, signed, _b64url(parts[2]), pure=pure):
        raise InvalidAssertion("bad signature")
    # Claims are read only after the signature holds.
    current = time.time() if now is None else now
    if claims.get("iss") != issuer:
        raise InvalidAssertion("wrong issuer")
    aud = claims.get("aud")
    if not (aud == audience or (isinstance(aud, list) and audience in aud)):
        raise InvalidAssertion("wrong audience")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or current > exp + leeway_seconds:
        raise InvalidAssertion("expired")
    iat = claims.get("iat")
    if not isinstance(iat, (int, float)) or iat > current + leeway_seconds:
        raise InvalidAssertion("issued in the future")
    if not isinstance(claims.get("sub"), str) or claims["sub"] == "":
        raise InvalidAssertion("no subject")
    return claims


def main(argv):
    import argparse

    parser = argparse.ArgumentParser(description="Verify a Portcullis X-Auth-Assertion")
    parser.add_argument("--jwks", required=True, help="the gateway's /.well-known/jwks.json URL")
    parser.add_argument("--issuer", default="portcullis", help="tokens.issuer of the gateway")
    parser.add_argument("--audience", required=True, help="this upstream's route name")
    parser.add_argument("--pure", action="store_true", help="use the pure-Python Ed25519 verifier")
    parser.add_argument("token", nargs="?", default="-")
    args = parser.parse_args(argv)
    token = sys.stdin.read().strip() if args.token == "-" else args.token
    try:
        claims = verify_assertion(token, JwksCache(args.jwks), args.issuer, args.audience, pure=args.pure)
    except InvalidAssertion as err:
        print(f"invalid: {err}", file=sys.stderr)
        return 1
    backend = "pure-python" if args.pure or Ed25519PublicKey is None else "cryptography"
    print(json.dumps({"valid": True, "backend": backend, "claims": claims}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
