package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Key is an Ed25519 verification key with its key id.
type Key struct {
	ID     string
	Public ed25519.PublicKey
}

// KeyID returns the RFC 7638 JWK thumbprint of an Ed25519 public key,
// used as the "kid" header: it is stable, derived from the key alone, and
// reveals nothing but the public key.
func KeyID(pub ed25519.PublicKey) string {
	// Members in lexicographic order, no whitespace (RFC 7638 §3.2).
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ParsePrivateKeyPEM parses an Ed25519 private key in PKCS#8 PEM, the form
// `openssl genpkey -algorithm ed25519` writes.
func ParsePrivateKeyPEM(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PKCS#8 PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS#8: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, want Ed25519", k)
	}
	return priv, nil
}

// ParsePublicKeyPEM parses an Ed25519 key for verification only: a PKIX
// "PUBLIC KEY" block, or a PKCS#8 private key whose public half is used.
func ParsePublicKeyPEM(data []byte) (ed25519.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	switch block.Type {
	case "PRIVATE KEY":
		priv, err := ParsePrivateKeyPEM(data)
		if err != nil {
			return nil, err
		}
		return priv.Public().(ed25519.PublicKey), nil
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKIX: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("key is %T, want Ed25519", k)
		}
		return pub, nil
	}
	return nil, fmt.Errorf("PEM block %q, want PRIVATE KEY or PUBLIC KEY", block.Type)
}

// LoadPrivateKeyFile reads and parses a PKCS#8 PEM Ed25519 private key file.
func LoadPrivateKeyFile(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// LoadPublicKeyFile reads a verification key file (public or private PEM).
func LoadPublicKeyFile(path string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePublicKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// GenerateKeyFile writes a new Ed25519 private key as PKCS#8 PEM to path
// with mode 0600, creating parent directories. It refuses to overwrite.
func GenerateKeyFile(path string) error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	return CreateFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// CreateFile writes data to a new file at path (mode 0600, its directory
// made if needed) all at once: it is written to a temporary file beside
// path, then linked into place, so a reader never sees part of it, and of
// writers racing to create path one wins and the others get an error
// matching os.ErrExist.
func CreateFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Link(tmp.Name(), path)
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// JWK is one entry of a JSON Web Key Set; only public members exist.
type JWK struct {
	KeyType   string `json:"kty"`
	Curve     string `json:"crv"`
	X         string `json:"x"`
	KeyID     string `json:"kid"`
	Algorithm string `json:"alg"`
	Use       string `json:"use"`
}

// JWKS is the document served at /.well-known/jwks.json.
type JWKS struct {
	Keys []JWK `json:"keys"`
}
