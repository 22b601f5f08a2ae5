package relay

import "strconv"

// restartOnlyNames are the settings bound to the listeners, which a reload does not change: the running relay
// keeps its values (including command-line overrides) until it restarts.
var restartOnlyNames = [...]string{"listen", "metrics_listen", "max_connections", "max_connections_per_address",
	"reserved_connections", "timeouts.handshake", "timeouts.read_header", "timeouts.anonymous_idle"}

// restartOnly holds the values of restartOnlyNames, in order, as text.
type restartOnly [len(restartOnlyNames)]string

func restartOf(c *Config) restartOnly {
	return restartOnly{c.Listen, c.MetricsListen, strconv.Itoa(c.MaxConnections),
		strconv.Itoa(c.MaxConnectionsPerAddress), strconv.Itoa(c.ReservedConnections),
		c.Timeouts.Handshake.D().String(), c.Timeouts.ReadHeader.D().String(), c.Timeouts.AnonymousIdle.D().String()}
}

// keepRestartOnly gives next the running values of the restart-only settings.
func keepRestartOnly(next, running *Config) {
	next.Listen, next.MetricsListen = running.Listen, running.MetricsListen
	next.MaxConnections, next.MaxConnectionsPerAddress = running.MaxConnections, running.MaxConnectionsPerAddress
	next.ReservedConnections, next.Timeouts = running.ReservedConnections, running.Timeouts
}

// warnRestartOnly writes one WARN line per restart-only setting whose value in the configuration file changed
// since the file was last read (prev; nil the first time): which setting, from what to what, and the value still
// in effect until a restart. Comparing file with file, not file with running, keeps a command-line override
// (--metrics-listen) from being reported on every reload.
func (s *Server) warnRestartOnly(prev *restartOnly, next restartOnly, running *Config) {
	if prev == nil {
		return
	}
	inEffect := restartOf(running)
	for i, name := range restartOnlyNames {
		if prev[i] != next[i] {
			s.log.Warn("relay config: this setting changes only on restart", "setting", name, "from", prev[i],
				"to", next[i], "in_effect", inEffect[i])
		}
	}
}
