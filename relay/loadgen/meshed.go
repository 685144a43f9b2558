package loadgen

// A meshed run measures forwarding between two nodes of a region: senders
// (and the round-trip pinger) connect to Target, receivers (and the ping
// echo) to ThroughputConfig.Receivers, so every packet crosses the mesh.
// The servers' CPU is summed over both nodes.

// dialerFor returns the dialer of the i-th connection of a run: odd ones
// are receivers (and the ping echo), which go to the receivers' node when
// the run is meshed.
func (r *throughputRun) dialerFor(i int, senders *dialer) *dialer {
	if i%2 == 1 && r.receivers != nil {
		return r.receivers
	}
	return senders
}

// runMeter measures the servers' CPU over a run: the one node, or both
// nodes of a meshed run.
type runMeter struct {
	first, second *cpuMeter
	// receiversNode is the second node's share, once stopped.
	receiversNode *CPUUsage
}

func startRunMeter(cfg ThroughputConfig) (*runMeter, error) {
	first, err := startCPUMeter(cfg.ServerPID)
	if err != nil {
		return nil, err
	}
	m := &runMeter{first: first}
	if cfg.Receivers != nil && cfg.Receivers.ServerPID != 0 {
		if m.second, err = startCPUMeter(cfg.Receivers.ServerPID); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// stop returns the servers' usage, summed over both nodes when meshed
// (nil when a pid is unknown), and the generator's.
func (m *runMeter) stop() (server *CPUUsage, generator CPUUsage, err error) {
	server, generator, err = m.first.stop()
	if err != nil || m.second == nil {
		return server, generator, err
	}
	second, _, err := m.second.stop()
	if err != nil || server == nil || second == nil {
		return nil, generator, err
	}
	m.receiversNode = second
	sum := CPUUsage{Seconds: server.Seconds + second.Seconds, Utilization: server.Utilization + second.Utilization}
	return &sum, generator, nil
}
