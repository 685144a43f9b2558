package server

import (
	"time"

	"golang.org/x/time/rate"

	"github.com/relayctl/relayctl/internal/metrics"
	"github.com/relayctl/relayctl/relay/wire"
)

// MinRateBurst is the smallest per-client burst: one largest frame, so a
// maximum-size packet can always get through.
const MinRateBurst = wire.MaxClientFrameLen

// rateConfig is the per-client receive limit in force; a new value
// replaces it whole, and each client notices on its next frame.
type rateConfig struct {
	bytesPerSecond rate.Limit
	burst          int
}

type rateMetrics struct {
	limit  *metrics.Gauge
	burst  *metrics.Gauge
	waited *metrics.Counter
}

func newRateMetrics(reg *metrics.Registry) *rateMetrics {
	return &rateMetrics{
		limit:  reg.Gauge("derp_rate_limit_per_client_bytes_per_second", "receive rate each client may send at; 0 = unlimited"),
		burst:  reg.Gauge("derp_rate_limit_per_client_burst_bytes", "burst each client may send before the rate applies"),
		waited: reg.Counter("derp_rate_limit_per_client_waited", "frames whose reading was delayed by the per-client rate limit"),
	}
}

// SetPerClientRateLimit limits how fast each client (mesh peers exempt) may
// send, in bytes per second with the given burst; 0 turns limiting off.
// Like derper, the relay does not drop: it waits before reading the next
// frame, and TCP backpressure slows the client. It applies at once to
// connected clients.
func (s *Server) SetPerClientRateLimit(bytesPerSecond int64, burst int) {
	s.rateMetrics.limit.Set(bytesPerSecond)
	if bytesPerSecond <= 0 {
		s.rateMetrics.burst.Set(0)
		s.rateCfg.Store(nil)
		return
	}
	burst = max(burst, MinRateBurst)
	s.rateMetrics.burst.Set(int64(burst))
	s.rateCfg.Store(&rateConfig{bytesPerSecond: rate.Limit(bytesPerSecond), burst: burst})
}

// throttle waits until c may read a frame of n bytes under the current
// limit. It returns false if the connection closed while waiting.
func (c *sclient) throttle(cfg *rateConfig, n uint32) bool {
	if c.limiter == nil || c.limiterCfg != cfg {
		if c.limiter == nil {
			c.limiter = rate.NewLimiter(cfg.bytesPerSecond, cfg.burst)
		} else {
			c.limiter.SetLimit(cfg.bytesPerSecond)
			c.limiter.SetBurst(cfg.burst)
		}
		c.limiterCfg = cfg
	}
	charge := min(int(n), cfg.burst)
	r := c.limiter.ReserveN(time.Now(), charge)
	d := r.Delay()
	if d <= 0 {
		return true
	}
	c.s.rateMetrics.waited.Inc()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.done:
		return false
	}
}
