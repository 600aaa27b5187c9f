package token

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newManager(t *testing.T, k ed25519.PrivateKey, prev ...ed25519.PublicKey) *Manager {
	t.Helper()
	m, err := NewManager(Config{Issuer: "https://auth.test", Audience: "authevents-test", Now: func() time.Time { return now }}, k, prev...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func spec(typ string) Spec {
	return Spec{Type: typ, UserID: uuid.New(), SessionID: uuid.New(), ID: uuid.New(), IssuedAt: now, TTL: 15 * time.Minute}
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	m := newManager(t, newKey(t))
	s := spec(TypeAccess)
	raw, err := m.Sign(s)
	if err != nil {
		t.Fatal(err)
	}
	v, err := m.Verify(raw, TypeAccess)
	if err != nil {
		t.Fatal(err)
	}
	if v.UserID != s.UserID || v.SessionID != s.SessionID || v.ID != s.ID || !v.ExpiresAt.Equal(now.Add(15*time.Minute)) {
		t.Fatalf("Verify = %+v, want ids of %+v", v, s)
	}
	// Header and claims are what clients and other services rely on.
	parts := strings.Split(raw, ".")
	var hdr map[string]any
	b, _ := base64.RawURLEncoding.DecodeString(parts[0])
	json.Unmarshal(b, &hdr)
	if hdr["alg"] != "EdDSA" || hdr["kid"] != m.KeyID() {
		t.Fatalf("header = %v", hdr)
	}
	var claims map[string]any
	b, _ = base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(b, &claims)
	for _, k := range []string{"iss", "aud", "sub", "iat", "exp", "jti", "sid", "typ"} {
		if _, ok := claims[k]; !ok {
			t.Errorf("claim %q missing from %v", k, claims)
		}
	}
	again, _ := m.Sign(s)
	if again != raw {
		t.Error("signing the same spec twice gave different tokens; the refresh grace window relies on determinism")
	}
}

// forge signs arbitrary claims with arbitrary method and key.
func forge(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	m := newManager(t, k)
	good := func() jwt.MapClaims {
		return jwt.MapClaims{
			"iss": "https://auth.test", "aud": "authevents-test", "sub": uuid.NewString(),
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": uuid.NewString(),
			"sid": uuid.NewString(), "typ": "access",
		}
	}
	with := func(k string, v any) jwt.MapClaims { c := good(); c[k] = v; return c }
	without := func(k string) jwt.MapClaims { c := good(); delete(c, k); return c }
	pub := k.Public().(ed25519.PublicKey)

	valid := forge(t, jwt.SigningMethodEdDSA, k, m.KeyID(), good())
	if _, err := m.Verify(valid, TypeAccess); err != nil {
		t.Fatalf("control token rejected: %v", err)
	}
	parts := strings.Split(valid, ".")
	tamperedClaims := good()
	tamperedClaims["sub"] = uuid.NewString()
	tb, _ := json.Marshal(tamperedClaims)

	cases := map[string]string{
		"alg none":              forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, m.KeyID(), good()),
		"HS256 with public key": forge(t, jwt.SigningMethodHS256, []byte(pub), m.KeyID(), good()),
		"HS256 with kid bytes":  forge(t, jwt.SigningMethodHS256, []byte(m.KeyID()), m.KeyID(), good()),
		"unknown kid":           forge(t, jwt.SigningMethodEdDSA, k, "other", good()),
		"no kid":                forge(t, jwt.SigningMethodEdDSA, k, "", good()),
		"other key, our kid":    forge(t, jwt.SigningMethodEdDSA, newKey(t), m.KeyID(), good()),
		"tampered claims":       parts[0] + "." + base64.RawURLEncoding.EncodeToString(tb) + "." + parts[2],
		"truncated signature":   valid[:len(valid)-4],
		"expired":               forge(t, jwt.SigningMethodEdDSA, k, m.KeyID(), with("exp", now.Add(-time.Second).Unix())),
		"no exp":                forge(t, jwt.SigningMethodEdDSA, k, m.KeyID(), without("exp")),
		"no iat":                forge(t, jwt.SigningMethodEdDSA, k, m.KeyID(), without("iat")),
		"iat in future":         forge(t, jwt.SigningMethodEdDSA, k, m.KeyID(), with("iat", now.Add(time.Hour).Unix())),
		"wrong issuer":          forge(t, jwt.SigningMethodEdDSA, k, m.KeyID(), with("iss", "https://evil.test")),
		"wrong audience":        forge(t, jwt.SigningMethodEdDSA, k, m.KeyID(), with("aud", "other-service")),
		"no audience":           forge(t, jwt.SigningMethodEdDSA, k, m.KeyID(), without("aud")),
		"refresh as access":     forge(t, jwt.SigningMethodEdDSA, k, m.KeyID(), with("typ", "refresh")),
		"no typ":                forge(t, jwt.SigningMethodEdDSA, k, m.KeyID(), without("typ")),
		"bad sub":               forge(t, jwt.SigningMethodEdDSA, k, m.KeyID(), with("sub", "admin")),
		"no sid":                forge(t, jwt.SigningMethodEdDSA, k, m.KeyID(), without("sid")),
		"nil jti":               forge(t, jwt.SigningMethodEdDSA, k, m.KeyID(), with("jti", uuid.Nil.String())),
		"garbage":               "not.a.jwt",
		"empty":                 "",
	}
	for name, raw := range cases {
		if v, err := m.Verify(raw, TypeAccess); err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Verify = %+v, %v; want ErrInvalid", name, v, err)
		}
	}
}

func TestPreviousKeysVerifyButDoNotSign(t *testing.T) {
	t.Parallel()
	old, cur := newKey(t), newKey(t)
	oldM := newManager(t, old)
	raw, _ := oldM.Sign(spec(TypeRefresh))

	m := newManager(t, cur, old.Public().(ed25519.PublicKey))
	if _, err := m.Verify(raw, TypeRefresh); err != nil {
		t.Fatalf("token of previous key rejected: %v", err)
	}
	fresh, _ := m.Sign(spec(TypeRefresh))
	if _, err := oldM.Verify(fresh, TypeRefresh); err == nil {
		t.Fatal("new token verified by a manager that only knows the old key: not signed with the current key")
	}
	j := m.JWKS()
	if len(j.Keys) != 2 || j.Keys[0].KeyID != m.KeyID() {
		t.Fatalf("JWKS = %+v, want current key first then the previous one", j)
	}
	// Without the previous key the old token fails.
	if _, err := newManager(t, cur).Verify(raw, TypeRefresh); err == nil {
		t.Fatal("old token verified without its key")
	}
}

func TestJWKSHasNoPrivateMaterial(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	m := newManager(t, k)
	b, _ := json.Marshal(m.JWKS())
	var doc struct{ Keys []map[string]any }
	json.Unmarshal(b, &doc)
	if len(doc.Keys) != 1 {
		t.Fatalf("JWKS = %s", b)
	}
	key := doc.Keys[0]
	if _, ok := key["d"]; ok {
		t.Fatalf("JWKS exposes private member d: %s", b)
	}
	if strings.Contains(string(b), base64.RawURLEncoding.EncodeToString(k.Seed())) {
		t.Fatal("JWKS contains the private seed")
	}
	x, _ := base64.RawURLEncoding.DecodeString(key["x"].(string))
	if !ed25519.PublicKey(x).Equal(k.Public()) || key["kty"] != "OKP" || key["crv"] != "Ed25519" || key["alg"] != "EdDSA" {
		t.Fatalf("JWKS key = %v", key)
	}
}

func TestKeyFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "key.pem")
	if err := GenerateKeyFile(p); err != nil {
		t.Fatal(err)
	}
	if err := GenerateKeyFile(p); err == nil {
		t.Fatal("GenerateKeyFile overwrote an existing key")
	}
	priv, err := LoadPrivateKeyFile(p)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKeyFile(p)
	if err != nil || !pub.Equal(priv.Public()) {
		t.Fatalf("LoadPublicKeyFile = %v, %v", pub, err)
	}
	// RFC 8037 appendix A.3 thumbprint of its example key.
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if got, want := KeyID(x), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Fatalf("KeyID(RFC 8037 example) = %s, want %s", got, want)
	}
	for _, bad := range []string{"", "garbage", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"} {
		if _, err := ParsePrivateKeyPEM([]byte(bad)); err == nil {
			t.Errorf("ParsePrivateKeyPEM(%q) succeeded", bad)
		}
	}
}

// TestAccessHeaderType: access tokens carry the RFC 9068 header typ
// at+jwt; an access token from before (header typ JWT) verifies until it
// expires; a token whose header says at+jwt is never a refresh token.
func TestAccessHeaderType(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	m := newManager(t, k)
	raw, _ := m.Sign(spec(TypeAccess))
	var hdr map[string]any
	b, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	json.Unmarshal(b, &hdr)
	if hdr["typ"] != "at+jwt" {
		t.Errorf("access token header typ = %v, want at+jwt", hdr["typ"])
	}
	sign := func(headerTyp, claimTyp string) string {
		s := spec(claimTyp)
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, Claims{
			RegisteredClaims: jwt.RegisteredClaims{Issuer: "https://auth.test", Audience: jwt.ClaimStrings{"authevents-test"},
				Subject: s.UserID.String(), IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), ID: s.ID.String()},
			SessionID: s.SessionID.String(), Type: claimTyp,
		})
		tok.Header["kid"], tok.Header["typ"] = m.KeyID(), headerTyp
		raw, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	if _, err := m.Verify(sign("JWT", TypeAccess), TypeAccess); err != nil {
		t.Errorf("legacy access token (header typ JWT) refused: %v", err)
	}
	if _, err := m.Verify(sign("application/at+jwt", TypeAccess), TypeAccess); err != nil {
		t.Errorf("header typ application/at+jwt refused: %v", err)
	}
	if _, err := m.Verify(sign("at+jwt", TypeRefresh), TypeRefresh); err == nil {
		t.Error("a token with header typ at+jwt verified as a refresh token")
	}
	if _, err := m.Verify(sign("foo", TypeAccess), TypeAccess); err == nil {
		t.Error("an access token with header typ foo verified")
	}
}

// TestRefreshTokensAreTagged: only refresh tokens this service issued
// verify; a made-up one (right ids, any secret and tag) does not, so it
// can never pass for a replayed rotated token. After a key rotation the
// previous key's tokens verify when it is given as a private key.
func TestRefreshTokensAreTagged(t *testing.T) {
	cfg := Config{Issuer: "i", Audience: "a"}
	_, k1, _ := ed25519.GenerateKey(nil)
	_, k2, _ := ed25519.GenerateKey(nil)
	m1, _ := NewManager(cfg, k1)
	sid, uid := uuid.New(), uuid.New()
	raw, id := m1.NewRefresh(sid, uid)
	r, err := m1.VerifyRefresh(raw)
	if err != nil || r.SessionID != sid || r.UserID != uid || r.ID() != id {
		t.Fatalf("VerifyRefresh(issued) = %+v, %v", r, err)
	}
	b, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(raw, RefreshPrefix))
	for _, i := range []int{40, len(b) - 1} { // a secret byte, a tag byte
		forged := append([]byte{}, b...)
		forged[i] ^= 1
		if _, err := m1.VerifyRefresh(RefreshPrefix + base64.RawURLEncoding.EncodeToString(forged)); !errors.Is(err, ErrInvalid) {
			t.Errorf("byte %d flipped: VerifyRefresh = %v, want ErrInvalid", i, err)
		}
	}
	rotatedPublic, _ := NewManager(cfg, k2, k1.Public().(ed25519.PublicKey))
	if _, err := rotatedPublic.VerifyRefresh(raw); !errors.Is(err, ErrInvalid) {
		t.Errorf("after rotation with the old key as public key: %v, want ErrInvalid", err)
	}
	rotated, _ := NewManager(cfg, k2, k1.Public().(ed25519.PublicKey))
	rotated.AcceptRefreshFrom(k1)
	if _, err := rotated.VerifyRefresh(raw); err != nil {
		t.Errorf("after rotation with the old key as private key: %v", err)
	}
}

// TestRefreshTokenHasOneSpelling: base64url of 80 bytes ends in a
// character whose two low bits carry nothing. A token re-spelt with other
// trailing bits decodes to the same bytes under lenient decoding, so it
// would pass for the issued token; strict decoding refuses it.
func TestRefreshTokenHasOneSpelling(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(nil)
	m, _ := NewManager(Config{Issuer: "i", Audience: "a"}, k)
	raw, _ := m.NewRefresh(uuid.New(), uuid.New())
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, raw[len(raw)-1])
	respelt := 0
	for bits := 1; bits < 4; bits++ {
		other := raw[:len(raw)-1] + string(alphabet[last^bits])
		if b1, b2 := decodeLenient(t, raw), decodeLenient(t, other); !bytes.Equal(b1, b2) {
			continue // that bit was significant: a different token, not a re-spelling
		}
		respelt++
		if _, err := m.VerifyRefresh(other); !errors.Is(err, ErrInvalid) {
			t.Errorf("re-spelt token %q (trailing bits %02b): VerifyRefresh = %v, want ErrInvalid", other, bits, err)
		}
	}
	// The decoder skips line breaks, even when strict: a token with one
	// inside is another spelling of the same bytes.
	for _, other := range []string{raw[:20] + "\n" + raw[20:], raw[:20] + "\r\n" + raw[20:], raw + "\n"} {
		respelt++
		if _, err := m.VerifyRefresh(other); !errors.Is(err, ErrInvalid) {
			t.Errorf("token with a line break %q: VerifyRefresh = %v, want ErrInvalid", other, err)
		}
	}
	if respelt == 0 {
		t.Fatal("no re-spelling found: the token's length leaves no trailing bits, the test proves nothing")
	}
	if _, err := m.VerifyRefresh(raw); err != nil {
		t.Fatalf("the issued spelling: %v", err)
	}
}

func decodeLenient(t *testing.T, raw string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(raw, RefreshPrefix))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
