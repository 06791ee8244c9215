package launcher

import (
	"strings"
	"testing"
)

func TestConfigFileAllow(t *testing.T) {
	var cfg Config
	if _, err := parseConfig("pxsh_config.star", []byte(`allow = ["sh", "fs=/scratch:/data"]`), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Allow != "sh,fs=/scratch:/data" {
		t.Errorf("Allow = %q", cfg.Allow)
	}
	if _, err := parseConfig("pxsh_config.star", []byte(`allow = "sh"`), &cfg); err == nil ||
		!strings.Contains(err.Error(), "allow: got string, want list of strings") {
		t.Errorf("allow = \"sh\": %v", err)
	}
}
