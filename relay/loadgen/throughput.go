package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/relayctl/relayctl/relay/key"
	"github.com/relayctl/relayctl/relay/wire"
)

// ThroughputConfig describes a relaying run. Zero values mean the defaults.
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
	Warmup     time.Duration // load before measuring; negative for none
	// PingInterval is the period of the round-trip pings that run beside
	// the load; negative disables them.
	PingInterval time.Duration
	// IdlePing is how long round trips are timed before the load starts,
	// as a baseline; negative skips it.
	IdlePing         time.Duration
	ConnectTimeout   time.Duration
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

func (c ThroughputConfig) withDefaults() (ThroughputConfig, error) {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Pairs == 0 {
		c.Pairs = DefaultPairs
	}
	if c.PacketSize == 0 {
		c.PacketSize = DefaultPacketSize
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	def(&c.Duration, DefaultDuration)
	def(&c.Warmup, DefaultWarmup)
	def(&c.PingInterval, DefaultPingInterval)
	def(&c.IdlePing, DefaultIdlePing)
	def(&c.ConnectTimeout, DefaultConnectTimeout)
	def(&c.ProgressInterval, DefaultProgressInterval)
	switch {
	case c.Pairs < 1:
		return c, fmt.Errorf("pairs %d: want at least 1", c.Pairs)
	case c.PacketSize < 1 || c.PacketSize > wire.MaxPacketSize:
		return c, fmt.Errorf("packet size %d: want 1 to %d bytes", c.PacketSize, wire.MaxPacketSize)
	case c.Window < 1:
		return c, fmt.Errorf("window %d: want at least 1", c.Window)
	case c.StalledReceivers < 0 || c.StalledReceivers > c.Pairs/2:
		return c, fmt.Errorf("stalled receivers %d: want 0 to half the pairs (%d)", c.StalledReceivers, c.Pairs/2)
	case c.Duration < 0:
		return c, fmt.Errorf("duration %v: want a positive duration", c.Duration)
	}
	return c, nil
}

// RunThroughput connects the pairs (and the ping pair), checks that each
// pair's packets get through, times idle round trips, then runs the load
// for Warmup plus Duration and measures the Duration.
func RunThroughput(ctx context.Context, cfg ThroughputConfig) (*ThroughputResult, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d, err := newDialer(cfg.Target)
	if err != nil {
		return nil, err
	}
	r := &throughputRun{cfg: cfg, stop: make(chan struct{})}
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

type throughputRun struct {
	cfg    ThroughputConfig
	pairs  []*pair
	pinger *pinger
	conns  []*conn
	// With MixedStall: the mixed sender (paired with its own receiver)
	// and Z, the receiver that stalls.
	mixed, stuck *pair

	receivers *dialer // the receivers' node of a meshed run, or nil

	stop      chan struct{} // closes to stop senders, receivers and pinger
	stopOnce  sync.Once
	senders   sync.WaitGroup
	sendErrMu sync.Mutex
	sendErr   error
}

func (r *throughputRun) close() {
	r.stopOnce.Do(func() { close(r.stop) })
	for _, c := range r.conns {
		c.Close()
	}
}

func (r *throughputRun) connect(ctx context.Context, d *dialer) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ConnectTimeout)
	defer cancel()
	r.progress(Progress{Phase: "connecting"})
	pings := 0
	if r.cfg.PingInterval > 0 {
		pings = 2
	}
	n := 2*r.cfg.Pairs + pings
	if r.cfg.MixedStall {
		n += 3 // sender, its receiver, Z
	}
	conns := make([]*conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range conns {
		buf := bulkReadBuffer
		sender := i < 2*r.cfg.Pairs && i%2 == 0 || i == 2*r.cfg.Pairs+pings
		if sender || i >= 2*r.cfg.Pairs && i < 2*r.cfg.Pairs+pings {
			buf = pingReadBuffer // senders read only keepalives; pings are small
		}
		wg.Go(func() { conns[i], errs[i] = r.dialerFor(i, d).dial(ctx, key.NewNode(), buf) })
	}
	wg.Wait()
	for _, c := range conns {
		if c != nil {
			r.conns = append(r.conns, c)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("connecting %d clients: %w", n, err)
	}
	for i := range r.cfg.Pairs {
		window := r.cfg.Window
		if r.cfg.OpenLoop {
			window = 0
		}
		r.pairs = append(r.pairs, newPair(conns[2*i], conns[2*i+1], r.cfg.PacketSize, window))
	}
	for i, p := range r.pairs[:r.cfg.StalledReceivers] {
		live := r.pairs[r.cfg.StalledReceivers+i%(r.cfg.Pairs-r.cfg.StalledReceivers)]
		p.pacedBy, live.alsoWake = live, p.wake
	}
	extra := conns[2*r.cfg.Pairs:]
	if r.cfg.PingInterval > 0 {
		r.pinger = &pinger{from: extra[0], echo: extra[1], interval: r.cfg.PingInterval}
		extra = extra[2:]
	}
	if r.cfg.MixedStall {
		window := r.cfg.Window
		if r.cfg.OpenLoop {
			window = 0
		}
		r.mixed = newFanoutPair(extra[0], extra[1], extra[2], r.cfg.PacketSize, window)
		r.stuck = receiveOnly(extra[0], extra[2], r.cfg.PacketSize)
		go r.stuck.receive(r.stop)
	}
	for _, p := range r.senderPairs() {
		go p.receive(r.stop)
		go drainSender(p.sender)
	}
	return r.prime(ctx)
}

// pingReadBuffer serves connections that read only small frames.
const pingReadBuffer = 16 << 10

// prime sends one packet per pair until each has arrived: the relay may
// answer the handshake a moment before it routes to the new client.
func (r *throughputRun) prime(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		waiting := 0
		for _, p := range r.senderPairs() {
			if p.delivered.Load() > 0 {
				continue
			}
			waiting++
			if err := p.write(1); err != nil {
				return fmt.Errorf("first packet of a pair: %w", err)
			}
			p.sent.Add(1)
		}
		if waiting == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d pairs delivered no packet: %w", waiting, len(r.senderPairs()), context.Cause(ctx))
		case <-tick.C:
		}
	}
}

func (r *throughputRun) run(ctx context.Context) (*ThroughputResult, error) {
	cfg := r.cfg
	res := &ThroughputResult{
		Mode: "closed-loop", Pairs: cfg.Pairs, PacketSize: cfg.PacketSize, Window: cfg.Window,
		StalledReceivers: cfg.StalledReceivers,
	}
	if cfg.OpenLoop {
		res.Mode, res.Window = "open-loop", 0
	}
	if r.pinger != nil {
		go r.pinger.run(r.stop)
		if cfg.IdlePing > 0 {
			if err := r.wait(ctx, "idle-rtt", cfg.IdlePing, nil); err != nil {
				return nil, err
			}
			res.RTTIdle = r.pinger.endPhase()
		}
	}
	live := r.pairs[cfg.StalledReceivers:]
	sentBefore, deliveredBefore := sums(live)

	for _, p := range r.senderPairs() {
		r.startSender(p)
	}
	if cfg.Warmup > 0 {
		if err := r.wait(ctx, "warmup", cfg.Warmup, nil); err != nil {
			return nil, err
		}
	}
	var baselineTotal, mixedBaseline float64
	var windows *windowMeter
	if cfg.StalledReceivers > 0 || cfg.MixedStall {
		// The same pairs, all reading, give the baseline that the
		// stalled phase is compared with, under the same conditions;
		// the control repeats it, to show the noise.
		baseline, err := r.observe(ctx, "baseline", live)
		if err != nil {
			return nil, err
		}
		res.StallBaseline, mixedBaseline = &baseline.pairs, baseline.mixed
		baselineTotal = baseline.pairs.Mean * float64(len(live))
		control, err := r.observe(ctx, "control", live)
		if err != nil {
			return nil, err
		}
		res.ControlKeptRatio = ratio(control.pairs.Mean, baseline.pairs.Mean)
		res.ControlWorstWindowRatio = ratio(control.worstWindow, baselineTotal)
		for _, p := range r.pairs[:cfg.StalledReceivers] {
			p.stallReceiver()
		}
		if r.stuck != nil {
			r.stuck.stallReceiver()
		}
		windows = newWindowMeter(live)
	}
	if r.pinger != nil {
		r.pinger.endPhase()
	}

	meter, err := startRunMeter(cfg)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	sent0, delivered0 := perPair(r.pairs)
	mixed0 := r.mixedDelivered()
	if err := r.wait(ctx, "measuring", cfg.Duration, windows); err != nil {
		return nil, err
	}
	sent1, delivered1 := perPair(r.pairs)
	mixed1 := r.mixedDelivered()
	seconds := time.Since(start).Seconds()
	server, generator, err := meter.stop()
	if err != nil {
		return nil, err
	}
	if r.pinger != nil {
		res.RTTLoad = r.pinger.endPhase()
	}

	res.Seconds = seconds
	var rates []float64
	for i := range r.pairs {
		res.Sent += sent1[i] - sent0[i]
		if i < cfg.StalledReceivers {
			continue
		}
		n := delivered1[i] - delivered0[i]
		res.Delivered += n
		rates = append(rates, float64(n)/seconds)
	}
	res.PairPacketsPerSecond = spreadOf(rates)
	if res.StallBaseline != nil {
		res.StallKeptRatio = ratio(res.PairPacketsPerSecond.Mean, res.StallBaseline.Mean)
		res.StallWorstWindowRatio = ratio(windows.worst, baselineTotal)
	}
	if r.mixed != nil {
		res.MixedStall = true
		res.MixedReceiverRatio = ratio(float64(mixed1-mixed0)/seconds, mixedBaseline)
	}
	res.PacketsPerSecond = float64(res.Delivered) / seconds
	res.MegabytesPerSecond = res.PacketsPerSecond * float64(cfg.PacketSize) / 1e6
	res.Generator = ProcessUsage{CPUUsage: generator}
	res.Generator.RSSBytes, _ = ProcessRSS(0)
	if server != nil {
		res.Server = &ProcessUsage{CPUUsage: *server}
		res.Server.RSSBytes, _ = ProcessRSS(cfg.ServerPID)
		res.PacketsPerServerCPUSecond = rateIf(float64(res.Delivered), server.Seconds)
		res.ReceiversNode = meter.receiversNode
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

// ratio is a stall figure: set even when it is 0 (a complete stall), so
// that JSON readers tell it from a run without one.
func ratio(n, per float64) *float64 {
	r := rateIf(n, per)
	return &r
}

// phaseRates are the delivery rates of one phase of a stall run.
type phaseRates struct {
	pairs       Spread  // per pair
	worstWindow float64 // the pairs' lowest summed rate over a StallWindow
	mixed       float64 // the mixed sender's, to its own receiver
}

// observe runs the load for Duration and measures the pairs' rates.
func (r *throughputRun) observe(ctx context.Context, phase string, pairs []*pair) (phaseRates, error) {
	start := time.Now()
	_, before := perPair(pairs)
	mixed0 := r.mixedDelivered()
	windows := newWindowMeter(pairs)
	if err := r.wait(ctx, phase, r.cfg.Duration, windows); err != nil {
		return phaseRates{}, err
	}
	_, after := perPair(pairs)
	seconds := time.Since(start).Seconds()
	rates := make([]float64, len(pairs))
	for i := range pairs {
		rates[i] = float64(after[i]-before[i]) / seconds
	}
	return phaseRates{pairs: spreadOf(rates), worstWindow: windows.worst, mixed: float64(r.mixedDelivered()-mixed0) / seconds}, nil
}

func (r *throughputRun) mixedDelivered() uint64 {
	if r.mixed == nil {
		return 0
	}
	return r.mixed.delivered.Load()
}

// senderPairs are the pairs with a sender goroutine: the pairs and the
// mixed sender.
func (r *throughputRun) senderPairs() []*pair {
	if r.mixed == nil {
		return r.pairs
	}
	return append(r.pairs[:len(r.pairs):len(r.pairs)], r.mixed)
}

// windowMeter finds the lowest summed delivery rate of some pairs over
// whole StallWindows.
type windowMeter struct {
	pairs  []*pair
	last   uint64
	lastAt time.Time
	worst  float64
	seen   bool
}

func newWindowMeter(pairs []*pair) *windowMeter {
	return &windowMeter{pairs: pairs}
}

func (w *windowMeter) start(now time.Time) {
	_, w.last = sums(w.pairs)
	w.lastAt = now
}

func (w *windowMeter) sample(now time.Time) {
	_, d := sums(w.pairs)
	if secs := now.Sub(w.lastAt).Seconds(); secs > 0 {
		if rate := float64(d-w.last) / secs; !w.seen || rate < w.worst {
			w.worst, w.seen = rate, true
		}
	}
	w.last, w.lastAt = d, now
}

func (r *throughputRun) startSender(p *pair) {
	r.senders.Go(func() {
		var err error
		if r.cfg.OpenLoop {
			err = p.sendOpenLoop(r.stop)
		} else {
			err = p.sendClosedLoop(r.stop, r.cfg.Window)
		}
		if err != nil && !isTimeout(err) {
			r.sendErrMu.Lock()
			r.sendErr = errors.Join(r.sendErr, fmt.Errorf("sender: %w", err))
			r.sendErrMu.Unlock()
		}
	})
}

// senderGrace is how long senders may take to finish a write in progress
// before their writes are cut short.
const senderGrace = time.Second

func (r *throughputRun) stopSenders() error {
	r.stopOnce.Do(func() { close(r.stop) })
	done := make(chan struct{})
	go func() { r.senders.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(senderGrace):
		for _, p := range r.senderPairs() {
			p.sender.raw.SetWriteDeadline(aLongTimeAgo)
		}
		<-done
	}
	r.sendErrMu.Lock()
	defer r.sendErrMu.Unlock()
	return r.sendErr
}

var aLongTimeAgo = time.Unix(1, 0)

// drain waits, up to drainLimit, until deliveries stop.
func (r *throughputRun) drain(ctx context.Context, live []*pair) {
	const drainLimit, quiet = 2 * time.Second, 200 * time.Millisecond
	r.progress(Progress{Phase: "draining"})
	deadline := time.Now().Add(drainLimit)
	_, last := sums(live)
	lastChange := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) && time.Since(lastChange) < quiet {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if _, d := sums(live); d != last {
			last, lastChange = d, time.Now()
		}
	}
}

// wait lets the load run for d, reporting progress and, when windows is
// not nil, sampling it every StallWindow; it fails early if ctx ends or a
// sender fails.
func (r *throughputRun) wait(ctx context.Context, phase string, length time.Duration, windows *windowMeter) error {
	start := time.Now()
	end := time.NewTimer(length)
	defer end.Stop()
	tick := time.NewTicker(r.cfg.ProgressInterval)
	defer tick.Stop()
	var window <-chan time.Time
	if windows != nil {
		t := time.NewTicker(StallWindow)
		defer t.Stop()
		window = t.C
		windows.start(start)
	}
	_, delivered0 := sums(r.pairs)
	last, lastAt := delivered0, start
	r.progress(Progress{Phase: phase, Total: length})
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-end.C:
			return nil
		case now := <-window:
			windows.sample(now)
			continue
		case now := <-tick.C:
			_, delivered := sums(r.pairs)
			rate := float64(delivered-last) / now.Sub(lastAt).Seconds()
			last, lastAt = delivered, now
			r.progress(Progress{Phase: phase, Elapsed: now.Sub(start), Total: length, Count: delivered - delivered0, Rate: rate, Bytes: rate * float64(r.cfg.PacketSize)})
		}
		r.sendErrMu.Lock()
		err := r.sendErr
		r.sendErrMu.Unlock()
		if err != nil {
			return err
		}
	}
}

func (r *throughputRun) progress(p Progress) {
	if r.cfg.Progress != nil {
		r.cfg.Progress(p)
	}
}

func sums(pairs []*pair) (sent, delivered uint64) {
	for _, p := range pairs {
		sent += p.sent.Load()
		delivered += p.delivered.Load()
	}
	return sent, delivered
}

func perPair(pairs []*pair) (sent, delivered []uint64) {
	for _, p := range pairs {
		sent = append(sent, p.sent.Load())
		delivered = append(delivered, p.delivered.Load())
	}
	return sent, delivered
}
