package quic

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Names of the identity files kept by LoadOrCreateIdentity.
const (
	certFile = "cert.pem"
	keyFile  = "key.pem"
)

// identityValidity is how long a generated certificate stays valid.
const identityValidity = 20 * 365 * 24 * time.Hour

// NewIdentity generates a fresh self-signed ECDSA P-256 identity valid for
// twenty years.
func NewIdentity() (*Identity, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("new identity: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("new identity: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "pxsh controller"},
		DNSNames:              []string{"pxsh"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(identityValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("new identity: %w", err)
	}
	return &Identity{
		Cert:        tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		Fingerprint: FingerprintOf(der),
	}, nil
}

// FingerprintOf returns "sha256:" followed by the lowercase hex SHA-256 of
// a certificate's DER bytes.
func FingerprintOf(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// LoadOrCreateIdentity loads the identity kept in dir as cert.pem and
// key.pem, or, when there is no cert.pem, generates one and writes both
// files with mode 0600 (creating dir with mode 0700). A cert.pem without a
// key.pem is an error.
func LoadOrCreateIdentity(dir string) (*Identity, error) {
	certPath := filepath.Join(dir, certFile)
	keyPath := filepath.Join(dir, keyFile)
	_, err := os.Stat(certPath)
	switch {
	case err == nil:
		return loadIdentity(certPath, keyPath)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("load identity: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create identity: %w", err)
	}
	id, err := NewIdentity()
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(id.Cert.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("create identity: %w", err)
	}
	// The key goes first: a cert.pem is only ever present next to its key.
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})); err != nil {
		return nil, fmt.Errorf("create identity: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.Cert.Certificate[0]})
	if err := writeFileAtomic(certPath, certPEM); err != nil {
		return nil, fmt.Errorf("create identity: %w", err)
	}
	return id, nil
}

func loadIdentity(certPath, keyPath string) (*Identity, error) {
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	return &Identity{Cert: cert, Fingerprint: FingerprintOf(cert.Certificate[0])}, nil
}

// writeFileAtomic writes data to a temporary file with mode 0600 in the
// same directory and renames it over path.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
