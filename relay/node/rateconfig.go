package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"

	"github.com/relayctl/relayctl/config"
	"github.com/relayctl/relayctl/relay/server"
)

// sourceRateConfig is how values from --rate-config show in config show.
const sourceRateConfig config.Source = nameRateConfig

// derperRateConfig is derper's rate-config file.
type derperRateConfig struct {
	PerClientRateLimitBytesPerSec uint64
	PerClientRateBurstBytes       uint64
}

// rateConfigOverlay makes --rate-config a setting source: the file sets
// the per-client rate settings, above the command line and below policy,
// and is re-read on change and SIGHUP with the other sources.
func rateConfigOverlay() config.Overlay {
	return config.Overlay{PathSetting: nameRateConfig, Source: sourceRateConfig, Read: readRateConfig}
}

// readRateConfig reads derper's format with derper's meaning: a zero
// limit turns rate limiting off; a burst below one largest frame is raised
// to it. Unknown fields are an error, so a misspelt key is not silently
// ignored.
func readRateConfig(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var rc derperRateConfig
	if err := dec.Decode(&rc); err != nil {
		return nil, fmt.Errorf("not a derper rate config (want {\"PerClientRateLimitBytesPerSec\": N, \"PerClientRateBurstBytes\": N}): %w", err)
	}
	if rc.PerClientRateLimitBytesPerSec > math.MaxInt64 || rc.PerClientRateBurstBytes > math.MaxInt {
		return nil, fmt.Errorf("values too large")
	}
	out := map[string]string{nameRateLimit: strconv.FormatUint(rc.PerClientRateLimitBytesPerSec, 10)}
	if rc.PerClientRateLimitBytesPerSec > 0 {
		out[nameRateBurst] = strconv.FormatUint(max(rc.PerClientRateBurstBytes, server.MinRateBurst), 10)
	}
	return out, nil
}
