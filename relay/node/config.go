package node

import (
	"time"
)

// Config is a node's settings: one field per setting of the declaration
// (settings.go), which gives each its name, default and documentation.
// Start from DefaultConfig or Resolve; a zero Config is not a useful node.
type Config struct {
	Addr              string
	HTTPPort          int
	STUN              bool
	STUNPort          int
	Hostname          string
	CertMode          string
	CertDir           string
	KeyFile           string
	MeshPSKFile       string
	MeshWith          []string
	Dev               bool
	MetricsAddr       string
	DebugAddr         string
	TCPWriteTimeout   time.Duration
	TCPKeepAlive      time.Duration
	TCPUserTimeout    time.Duration
	BootstrapDNSNames []string
	Home              string
	AcceptConnLimit   float64
	AcceptConnBurst   int
	DrainTimeout      time.Duration
	PerClientRate     int64
	PerClientBurst    int
	MaxConns          int
	MaxConnsPerIP     int
	TrustedProxies    []string
	RegionID          int
	NodeName          string
	ACMEDirectoryURL  string
	ACMEEmail         string
	ACMEIPCerts       bool
	PublicIP          string
	LogFormat         string
	LogLevel          string

	// Client admission.
	VerifyClients                 bool
	Socket                        string
	VerifyClientsAllowUnreachable bool
	VerifyClientURL               string
	VerifyClientURLFailOpen       bool

	// Answers to derper flags relayctl had no counterpart for (see
	// internal/derperflags).
	DERP                         bool
	UnpublishedBootstrapDNSNames []string
	RateConfig                   string
	ACMEEABKID                   string
	ACMEEABKey                   string
}

// DefaultConfig is every setting at its declared default.
func DefaultConfig() Config {
	var c Config
	bindFlags(&c)
	return c
}
