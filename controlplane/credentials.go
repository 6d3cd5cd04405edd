package controlplane

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kindlike/kindlike/config"
	"github.com/kindlike/kindlike/controlplane/apiserver"
	"github.com/kindlike/kindlike/pki"
)

// LoadCerts fills cfg's certificates from a certificate directory as `kindlike
// create cluster` writes it on control planes (config.NodePKIDir).
func LoadCerts(dir string, cfg *Config) error {
	var err error
	if cfg.CA, err = os.ReadFile(filepath.Join(dir, "ca.crt")); err != nil {
		return fmt.Errorf("read cluster CA: %w", err)
	}
	if cfg.Serving, err = pki.ReadFiles(dir, "apiserver"); err != nil {
		return fmt.Errorf("read API serving certificate: %w", err)
	}
	if cfg.Peer, err = pki.ReadFiles(dir, "peer"); err != nil {
		return fmt.Errorf("read peer certificate: %w", err)
	}
	// Optional: without it, pods' logs and exec are unavailable (the member says so).
	if kp, err := pki.ReadFiles(dir, config.KubeletClientName); err == nil {
		cfg.KubeletClient = kp
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read kubelet client certificate: %w", err)
	}
	return nil
}

// LoadCA reads the cluster CA with its key, which control planes keep to sign the
// add-ons' credentials.
func LoadCA(dir string) (*pki.CA, error) {
	crt, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("read cluster CA: %w", err)
	}
	key, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		return nil, fmt.Errorf("read cluster CA key: %w", err)
	}
	return pki.ParseCA(crt, key)
}

// ReadTokens reads a token file: one token,user[,group1;group2] per line.
func ReadTokens(path string) (map[string]apiserver.User, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read token file: %w", err)
	}
	defer f.Close()
	tokens := map[string]apiserver.User{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, ",")
		if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("token file %s line %d: want token,user[,groups]", path, n)
		}
		u := apiserver.User{Name: parts[1]}
		if len(parts) > 2 && parts[2] != "" {
			u.Groups = strings.Split(parts[2], ";")
		}
		tokens[parts[0]] = u
	}
	return tokens, sc.Err()
}
