//go:build linux

package main

// relayMetrics are the relay table's rows, with the targets of issue #5 (as bounds on peer/wsca).
type relayMetrics struct {
	rtt, rttCPU, rttSys, rttLoad, p50, p99, hs, hsCPU, hsLoad, hsP99, bulk, bulkCPU, idle, cut *Metric
}

// newRelayMetrics names each workload with its layout ("rtt isolated"): one results.json holds both layouts.
func newRelayMetrics(l layout, peers []string) relayMetrics {
	w := func(name string) string { return name + " " + string(l) }
	m := relayMetrics{
		rtt:     newMetric(w("rtt"), "msgs/s", "1/s", false, peers...),
		rttCPU:  newMetric(w("rtt"), "proxy CPU per round trip", "µs", true, peers...),
		rttSys:  newMetric(w("rtt"), "of which system (kernel) CPU", "µs", true, peers...),
		rttLoad: newMetric(w("rtt"), "load generator's cores busy", "%", true, peers...),
		p50:     newMetric(w("rtt"), "p50 latency", "ms", true, peers...),
		p99:     newMetric(w("rtt"), "p99 latency", "ms", true, peers...),
		hs:      newMetric(w("handshake"), "handshakes/s", "1/s", false, peers...),
		hsCPU:   newMetric(w("handshake"), "proxy CPU per handshake", "µs", true, peers...),
		hsLoad:  newMetric(w("handshake"), "load generator's cores busy", "%", true, peers...),
		hsP99:   newMetric(w("handshake"), "p99", "ms", true, peers...),
		bulk:    newMetric(w("bulk"), "MB/s each way", "MB/s", false, peers...),
		bulkCPU: newMetric(w("bulk"), "proxy CPU per MB echoed", "ms", true, peers...),
		idle:    newMetric(w("idle"), "memory per connection", "KiB", true, peers...),
		cut:     newMetric(w("revoke"), "live session cut", "ms", true, peers...),
	}
	m.rttSys.Context, m.rttLoad.Context, m.hsLoad.Context = true, true, true
	m.rttCPU.target(&Target{Text: "≤ 0.85× nginx's", Kind: "ratio-min", Value: 1 / 0.85, Peer: "nginx"})
	m.rtt.target(&Target{Text: "≥ 1.15× nginx", Kind: "ratio-max", Value: 1 / 1.15, Peer: "nginx"})
	m.rtt.target(&Target{Text: "≥ 1.0× the best peer", Kind: "ratio-max", Value: 1, Peer: "*"})
	m.p99.target(&Target{Text: "≤ nginx's", Kind: "ratio-min", Value: 1, Peer: "nginx"})
	m.hs.target(&Target{Text: "≥ 2× nginx", Kind: "ratio-max", Value: 0.5, Peer: "nginx"})
	m.hs.target(&Target{Text: "≥ 0.85× direct", Kind: "ratio-max", Value: 1 / 0.85, Peer: "direct"})
	m.bulk.target(&Target{Text: "≥ 1.1× nginx", Kind: "ratio-max", Value: 1 / 1.1, Peer: "nginx"})
	m.bulk.target(&Target{Text: "≥ 1.0× the best peer", Kind: "ratio-max", Value: 1, Peer: "*"})
	m.idle.target(&Target{Text: "≤ HAProxy's", Kind: "ratio-min", Value: 1, Peer: "haproxy"})
	m.cut.target(&Target{Text: "wsca ≤ 1 s", Kind: "max", Value: 1000})
	return m
}

func (m relayMetrics) all() []*Metric {
	return []*Metric{m.rtt, m.rttCPU, m.rttSys, m.rttLoad, m.p50, m.p99, m.hs, m.hsCPU, m.hsLoad, m.hsP99, m.bulk, m.bulkCPU, m.idle,
		m.cut}
}
