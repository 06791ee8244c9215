package launcher

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// HostSpec is one entry of a host list: an ssh destination and how many
// engines run there (0: share of the remaining engines).
type HostSpec struct {
	// Host is the ssh destination, "host" or "user@host".
	Host string
	// Count is the number of engines on Host; 0 means "spread".
	Count int
}

func (h HostSpec) String() string {
	if h.Count == 0 {
		return h.Host
	}
	return h.Host + ":" + strconv.Itoa(h.Count)
}

// ParseHosts parses a comma-separated host list such as
// "node1:4,user@node2:2,node3". A bracketed IPv6 address ("[::1]:2")
// keeps its colons.
func ParseHosts(s string) ([]HostSpec, error) {
	var out []HostSpec
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		h := HostSpec{Host: f}
		i := strings.LastIndexByte(f, ':')
		if i >= 0 && !strings.HasSuffix(f, "]") {
			n, err := strconv.Atoi(f[i+1:])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("parse hosts: bad count in %q", f)
			}
			h.Host, h.Count = f[:i], n
		}
		h.Host = strings.TrimSuffix(strings.TrimPrefix(h.Host, "["), "]")
		if h.Host == "" || strings.ContainsAny(h.Host, " \t'\"") {
			return nil, fmt.Errorf("parse hosts: bad host in %q", f)
		}
		out = append(out, h)
	}
	return out, nil
}

// Distribute assigns n engines to hosts: hosts with a count get that many
// (n = 0 means "the sum of the counts"); the remaining engines are spread
// round-robin over hosts without a count, or over all hosts if every host
// has one. It returns the number of engines per host.
func Distribute(hosts []HostSpec, n int) ([]int, error) {
	if len(hosts) == 0 {
		return nil, fmt.Errorf("distribute engines: no hosts")
	}
	counts := make([]int, len(hosts))
	fixed, total := []int{}, 0
	var free []int
	for i, h := range hosts {
		if h.Count > 0 {
			counts[i] = h.Count
			total += h.Count
			fixed = append(fixed, i)
		} else {
			free = append(free, i)
		}
	}
	if n <= 0 {
		if len(free) > 0 && total == 0 {
			return nil, fmt.Errorf("distribute engines: no engine count and no host counts")
		}
		return counts, nil
	}
	if total > n {
		return nil, fmt.Errorf("distribute engines: host counts add up to %d, more than n = %d", total, n)
	}
	pool := free
	if len(pool) == 0 {
		pool = fixed
	}
	for i := 0; i < n-total; i++ {
		counts[pool[i%len(pool)]]++
	}
	return counts, nil
}

// hostOf strips "user@" and a port.
func hostOf(dest string) string {
	if i := strings.LastIndexByte(dest, '@'); i >= 0 {
		dest = dest[i+1:]
	}
	return dest
}

// isLoopbackHost reports whether a connection-file host is loopback: a
// loopback IP, "localhost", or a name /etc/hosts maps only to loopback
// addresses. It never asks DNS.
func isLoopbackHost(host string, hostsFile string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	h := strings.ToLower(host)
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ips := lookupHostsFile(hostsFile, h)
	if len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false
		}
	}
	return true
}

func lookupHostsFile(path, name string) []net.IP {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []net.IP
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fs := strings.Fields(line)
		if len(fs) < 2 {
			continue
		}
		ip := net.ParseIP(fs[0])
		if ip == nil {
			continue
		}
		for _, n := range fs[1:] {
			if strings.EqualFold(n, name) {
				out = append(out, ip)
			}
		}
	}
	return out
}

// CheckReachable returns an error wrapping ErrLoopback when every address
// of a connection file (host:port) is a loopback address, which engines
// on other hosts cannot dial. why names the launcher that needs it.
func CheckReachable(addresses []string, why string) error {
	return checkReachable(addresses, why, "/etc/hosts")
}

func checkReachable(addresses []string, why, hostsFile string) error {
	if len(addresses) == 0 {
		return fmt.Errorf("check controller address: no addresses")
	}
	for _, a := range addresses {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			host = a
		}
		if !isLoopbackHost(host, hostsFile) {
			return nil
		}
	}
	return fmt.Errorf("check controller address: %s engines run on other hosts but the connection file only has %s: %w; "+
		"start the controller with --ip 0.0.0.0 (or an interface address) and --location HOST naming an address the engines can reach, "+
		"or pass --local-only if every engine runs on this host",
		why, strings.Join(addresses, ", "), ErrLoopback)
}
