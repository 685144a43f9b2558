package loadgen

import (
	"context"
	"fmt"
	"time"
)

// ThroughputConfig describes a relaying run. Start from
// DefaultThroughputConfig; a zero duration means off.
type ThroughputConfig struct {
	Target
	Pairs      int // sender→receiver pairs
	PacketSize int // payload bytes per packet
	// Window is how many packets each pair keeps in flight (closed loop).
	Window int
	// OpenLoop sends as fast as the relay reads, without flow control;
	// Window is then ignored.
	OpenLoop bool
	// StalledReceivers is how many pairs' receivers stop reading after
	// a baseline phase (Duration long, after Warmup) in which all pairs
	// run. Their senders keep sending at a live pair's rate (in open
	// loop: as fast as they can). The other pairs' rates during the stall,
	// against the baseline, show how well the relay isolates them from a
	// stuck client.
	StalledReceivers int
	// MixedStall adds a mixed sender beside the pairs: it alternates
	// packets between a receiver of its own and a receiver Z, flow
	// controlled by its own receiver only. After the baseline, Z stops
	// reading (it stays connected) while the sender carries on, as a
	// client keeps talking to a peer whose connection hangs. The other
	// pairs' rates then show whether the relay stays fair between
	// senders while it spends effort on a stuck receiver.
	MixedStall bool
	Duration   time.Duration // measured time, after Warmup
	Warmup     time.Duration // load before measuring; 0 for none
	// PingInterval is the period of the round-trip pings that run beside
	// the load; 0 disables them.
	PingInterval time.Duration
	// IdlePing is how long round trips are timed before the load starts,
	// as a baseline; 0 skips it.
	IdlePing time.Duration
	// ConnectTimeout bounds connecting the clients and their first
	// packets; 0 leaves it to ctx.
	ConnectTimeout time.Duration
	// Progress, when set, is called at each phase's start and then every
	// ProgressInterval (0: only at phase starts).
	Progress         func(Progress)
	ProgressInterval time.Duration

	// Receivers, when set, is a second node meshed with Target: receivers
	// and the ping echo connect there, so every packet is forwarded.
	Receivers *Target
}

// ThroughputResult is a relaying run's outcome. Rates are over the
// measured window; Sent and Delivered count the same window (they differ
// by what the relay dropped plus what was in flight at its edges), while
// LossRatio is over the whole load after draining: 1 − delivered/sent.
// Pairs with stalled receivers are left out of everything but Sent.
type ThroughputResult struct {
	Mode                 string  `json:"mode"` // "closed-loop" or "open-loop"
	Pairs                int     `json:"pairs"`
	PacketSize           int     `json:"packet_size"`
	Window               int     `json:"window,omitempty"`
	StalledReceivers     int     `json:"stalled_receivers,omitempty"`
	Seconds              float64 `json:"duration_seconds"`
	Sent                 uint64  `json:"sent"`
	Delivered            uint64  `json:"delivered"`
	PacketsPerSecond     float64 `json:"packets_per_second"`
	MegabytesPerSecond   float64 `json:"megabytes_per_second"` // payload, 10^6 bytes
	PairPacketsPerSecond Spread  `json:"pair_packets_per_second"`
	LossRatio            float64 `json:"loss_ratio"`
	// With stalled receivers: the same live pairs' rates over an equal
	// time just before the stall, and the ratio of their mean rates
	// (stalled over baseline): how much of their rate they kept.
	StallBaseline  *Spread  `json:"stall_baseline_pair_packets_per_second,omitempty"`
	StallKeptRatio *float64 `json:"stall_kept_ratio,omitempty"`
	// StallWorstWindowRatio is the live pairs' summed rate in the worst
	// StallWindow of the stall over their summed baseline rate: a short
	// collapse that the mean hides shows here.
	StallWorstWindowRatio *float64 `json:"stall_worst_window_ratio,omitempty"`
	// The control is a phase as long as the stall, between the baseline
	// and the stall, in which nobody stops reading: the same figures
	// without a stall show how much of the difference is noise.
	ControlKeptRatio        *float64 `json:"control_kept_ratio,omitempty"`
	ControlWorstWindowRatio *float64 `json:"control_worst_window_ratio,omitempty"`
	MixedStall              bool     `json:"mixed_stall,omitempty"`
	// MixedReceiverRatio is the mixed sender's rate to its own (reading)
	// receiver during the stall over its baseline rate.
	MixedReceiverRatio *float64 `json:"mixed_receiver_ratio,omitempty"`
	Malformed          uint64   `json:"malformed"`
	RTTIdle            *Latency `json:"rtt_idle,omitempty"`
	RTTLoad            *Latency `json:"rtt_load,omitempty"`
	// Server is set when Target.ServerPID is; in a meshed run it is the
	// sum over both nodes (RSS: Target's node), and ReceiversNode is the
	// receivers' node's share.
	Server                    *ProcessUsage `json:"server,omitempty"`
	ReceiversNode             *CPUUsage     `json:"receivers_node,omitempty"`
	PacketsPerServerCPUSecond float64       `json:"packets_per_server_cpu_second,omitempty"`
	Generator                 ProcessUsage  `json:"generator"`
}

// RunThroughput connects the pairs (and the ping pair), checks that each
// pair's packets get through, times idle round trips, then runs the load
// for Warmup plus Duration and measures the Duration.
func RunThroughput(ctx context.Context, cfg ThroughputConfig) (*ThroughputResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, err := newDialer(cfg.Target)
	if err != nil {
		return nil, err
	}
	r := &throughputRun{cfg: cfg, stop: make(chan struct{}), sendFailed: make(chan struct{})}
	if cfg.Receivers != nil {
		if r.receivers, err = newDialer(*cfg.Receivers); err != nil {
			return nil, fmt.Errorf("receivers' node: %w", err)
		}
	}
	defer r.close()
	if err := r.connect(ctx, d); err != nil {
		return nil, err
	}
	return r.run(ctx)
}

// StallWindow is the length of the windows in which stall runs look for
// the live pairs' worst rate.
const StallWindow = 250 * time.Millisecond

// run measures a connected run: idle round trips, warmup, the stall
// phases when asked for, the measured window, then the loss after the
// senders stop.
func (r *throughputRun) run(ctx context.Context) (*ThroughputResult, error) {
	res := r.newResult()
	if r.pinger != nil {
		go r.pinger.run(r.stop)
		if r.cfg.IdlePing > 0 {
			if err := r.wait(ctx, "idle-rtt", r.cfg.IdlePing, nil); err != nil {
				return nil, err
			}
			res.RTTIdle = r.pinger.endPhase()
		}
	}
	live := r.pairs[r.cfg.StalledReceivers:]
	sentBefore, deliveredBefore := sums(live)
	for _, p := range r.senderPairs() {
		r.startSender(p)
	}
	if r.cfg.Warmup > 0 {
		if err := r.wait(ctx, "warmup", r.cfg.Warmup, nil); err != nil {
			return nil, err
		}
	}
	var stall *stallBaseline
	if r.cfg.StalledReceivers > 0 || r.cfg.MixedStall {
		var err error
		if stall, err = r.stallAfterBaseline(ctx, live, res); err != nil {
			return nil, err
		}
	}
	if r.pinger != nil {
		r.pinger.endPhase()
	}
	if err := r.measure(ctx, res, stall); err != nil {
		return nil, err
	}
	if err := r.stopSenders(); err != nil {
		return nil, err
	}
	r.drain(ctx, live)
	sentAfter, deliveredAfter := sums(live)
	if sent := sentAfter - sentBefore; sent > 0 {
		res.LossRatio = 1 - float64(deliveredAfter-deliveredBefore)/float64(sent)
	}
	for _, p := range r.pairs {
		res.Malformed += p.malformed.Load()
	}
	return res, nil
}

func (r *throughputRun) newResult() *ThroughputResult {
	res := &ThroughputResult{
		Mode: "closed-loop", Pairs: r.cfg.Pairs, PacketSize: r.cfg.PacketSize, Window: r.cfg.Window,
		StalledReceivers: r.cfg.StalledReceivers, MixedStall: r.cfg.MixedStall,
	}
	if r.cfg.OpenLoop {
		res.Mode, res.Window = "open-loop", 0
	}
	return res
}

// stallBaseline is what a stall run measured before its receivers stalled.
type stallBaseline struct {
	total   float64 // the live pairs' summed mean rate
	mixed   float64 // the mixed sender's rate to its own receiver
	windows *windowMeter
}

// stallAfterBaseline measures the live pairs, all reading, as the baseline
// the stalled phase is compared with, repeats that as the control (to show
// the noise), then stalls the receivers.
func (r *throughputRun) stallAfterBaseline(ctx context.Context, live []*pair, res *ThroughputResult) (*stallBaseline, error) {
	baseline, err := r.observe(ctx, "baseline", live)
	if err != nil {
		return nil, err
	}
	b := &stallBaseline{total: baseline.pairs.Mean * float64(len(live)), mixed: baseline.mixed, windows: newWindowMeter(live)}
	res.StallBaseline = &baseline.pairs
	control, err := r.observe(ctx, "control", live)
	if err != nil {
		return nil, err
	}
	res.ControlKeptRatio = ratio(control.pairs.Mean, baseline.pairs.Mean)
	res.ControlWorstWindowRatio = ratio(control.worstWindow, b.total)
	for _, p := range r.pairs[:r.cfg.StalledReceivers] {
		p.stallReceiver()
	}
	if r.stuck != nil {
		r.stuck.stallReceiver()
	}
	return b, nil
}

// measure runs the measured window and fills in its rates, the stall
// ratios against stall (nil without a stall), round trips and CPU.
func (r *throughputRun) measure(ctx context.Context, res *ThroughputResult, stall *stallBaseline) error {
	meter, err := startRunMeter(r.cfg)
	if err != nil {
		return err
	}
	var windows *windowMeter
	if stall != nil {
		windows = stall.windows
	}
	start := time.Now()
	sent0, delivered0 := perPair(r.pairs)
	mixed0 := r.mixedDelivered()
	if err := r.wait(ctx, "measuring", r.cfg.Duration, windows); err != nil {
		return err
	}
	sent1, delivered1 := perPair(r.pairs)
	mixed1 := r.mixedDelivered()
	res.Seconds = time.Since(start).Seconds()
	server, generator, err := meter.stop()
	if err != nil {
		return err
	}
	if r.pinger != nil {
		res.RTTLoad = r.pinger.endPhase()
	}
	var rates []float64
	for i := range r.pairs {
		res.Sent += sent1[i] - sent0[i]
		if i < r.cfg.StalledReceivers {
			continue
		}
		n := delivered1[i] - delivered0[i]
		res.Delivered += n
		rates = append(rates, float64(n)/res.Seconds)
	}
	res.PairPacketsPerSecond = spreadOf(rates)
	if stall != nil {
		res.StallKeptRatio = ratio(res.PairPacketsPerSecond.Mean, res.StallBaseline.Mean)
		res.StallWorstWindowRatio = ratio(windows.worst, stall.total)
		if r.mixed != nil {
			res.MixedReceiverRatio = ratio(float64(mixed1-mixed0)/res.Seconds, stall.mixed)
		}
	}
	res.PacketsPerSecond = float64(res.Delivered) / res.Seconds
	res.MegabytesPerSecond = res.PacketsPerSecond * float64(r.cfg.PacketSize) / 1e6
	r.fillUsage(res, server, generator, meter.receiversNode)
	return nil
}

func (r *throughputRun) fillUsage(res *ThroughputResult, server *CPUUsage, generator CPUUsage, receiversNode *CPUUsage) {
	res.Generator = ProcessUsage{CPUUsage: generator}
	res.Generator.RSSBytes, _ = ProcessRSS(0)
	if server != nil {
		res.Server = &ProcessUsage{CPUUsage: *server}
		res.Server.RSSBytes, _ = ProcessRSS(r.cfg.ServerPID)
		res.PacketsPerServerCPUSecond = rateIf(float64(res.Delivered), server.Seconds)
		res.ReceiversNode = receiversNode
	}
}
