package signal

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"github.com/vigilstream/vigil/internal/testenv/natstest"
)

// Each way to authenticate to an external server connects with the right
// secret and is refused with a wrong one.
func TestConnectAuth(t *testing.T) {
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	other, _ := nkeys.CreateUser()
	otherSeed, _ := other.Seed()
	otherFile := filepath.Join(t.TempDir(), "other.nk")
	_ = os.WriteFile(otherFile, otherSeed, 0o600)

	tests := []struct {
		name      string
		opts      *server.Options
		good, bad Auth
	}{
		{"user and password", &server.Options{Username: "vigil", Password: "s3cret"},
			Auth{User: "vigil", Password: "s3cret"}, Auth{User: "vigil", Password: "wrong"}},
		{"token", &server.Options{Authorization: "t0ken"}, Auth{Token: "t0ken"}, Auth{Token: "nope"}},
		{"nkey", &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}}, Auth{NKeyFile: seedFile}, Auth{NKeyFile: otherFile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := natstest.NATSServer(t, tt.opts)
			b, err := Connect(context.Background(), BusConfig{URLs: s.ClientURL(), Name: "t", Auth: tt.good}, discard())
			if err != nil {
				t.Fatalf("good credentials refused: %v", err)
			}
			if err := b.PublishBlock(context.Background(), blockFor("x")); err != nil {
				t.Errorf("publish: %v", err)
			}
			b.Close()
			if b, err := Connect(context.Background(), BusConfig{URLs: s.ClientURL(), Name: "t", Auth: tt.bad}, discard()); err == nil {
				b.Close()
				t.Fatal("bad credentials accepted")
			}
		})
	}
	if err := (Auth{User: "u", Token: "t"}).Validate(); err == nil {
		t.Error("two methods accepted")
	}
	if err := (Auth{CertFile: "c"}).Validate(); err == nil {
		t.Error("a certificate without its key accepted")
	}
}

// TLS with a CA and a client certificate against a server that verifies
// clients.
func TestConnectTLSClientCert(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, nil, nil, "vigil test CA", true)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", ca.Raw)
	srvCert, srvKey := newCert(t, ca, caKey, "127.0.0.1", false)
	cliCert, cliKey := newCert(t, ca, caKey, "vigil-node", false)
	writePEM(t, filepath.Join(dir, "client.pem"), "CERTIFICATE", cliCert.Raw)
	der, _ := x509.MarshalECPrivateKey(cliKey)
	writePEM(t, filepath.Join(dir, "client-key.pem"), "EC PRIVATE KEY", der)

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	s := natstest.NATSServer(t, &server.Options{
		TLS: true, TLSVerify: true,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey}},
			ClientCAs:    pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
		},
	})
	url := "tls://" + s.Addr().String()
	b, err := Connect(context.Background(), BusConfig{URLs: url, Name: "t", Auth: Auth{
		CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "client.pem"), KeyFile: filepath.Join(dir, "client-key.pem"),
	}}, discard())
	if err != nil {
		t.Fatalf("TLS with a client certificate: %v", err)
	}
	if err := b.PublishBlock(context.Background(), blockFor("x")); err != nil {
		t.Errorf("publish over TLS: %v", err)
	}
	b.Close()
	if b, err := Connect(context.Background(), BusConfig{URLs: url, Name: "t", Auth: Auth{CAFile: filepath.Join(dir, "ca.pem")}}, discard()); err == nil {
		b.Close()
		t.Fatal("connected without a client certificate")
	}
}

func newCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:        isCA, BasicConstraintsValid: true,
	}
	if ip := net.ParseIP(cn); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
