// Command throttle serves a directory over HTTP on a loopback address, with
// every response body of every connection sharing one byte rate: a stand-in
// for an internal OSS endpoint in `make bench`. Rate 0 serves at full speed.
//
//	throttle -dir DIR -addr 127.0.0.1:0 -rate 100000000 -port-file FILE
//
// -lan lets it listen on the e2e's own test LAN, inside the network
// namespace the harness created (e2e/cases/kill.sh); never elsewhere.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// pacer hands out send times so that all writers together keep to rate.
type pacer struct {
	mu   sync.Mutex
	rate float64 // bytes per second; 0: no limit
	next time.Time
}

func (p *pacer) wait(n int) {
	if p.rate <= 0 {
		return
	}
	p.mu.Lock()
	// A sleep that overslept leaves p.next behind now: keep up to 20 ms of
	// that as credit, so oversleeping does not lower the rate.
	if floor := time.Now().Add(-20 * time.Millisecond); p.next.Before(floor) {
		p.next = floor
	}
	at := p.next
	p.next = p.next.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	p.mu.Unlock()
	time.Sleep(time.Until(at))
}

type pacedWriter struct {
	http.ResponseWriter
	p *pacer
}

// Write sends in 64 KiB slices, each at its turn.
func (w pacedWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		n := min(len(b), 64<<10)
		w.p.wait(n)
		m, err := w.ResponseWriter.Write(b[:n])
		written += m
		if err != nil {
			return written, err
		}
		b = b[n:]
	}
	return written, nil
}

func main() {
	dir := flag.String("dir", ".", "directory to serve")
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	rate := flag.Float64("rate", 0, "bytes per second shared by all responses; 0: unlimited")
	portFile := flag.String("port-file", "", "write the chosen port here")
	lan := flag.String("lan", "", "allow -addr in this CIDR too (the e2e's test LAN, inside its network namespace)")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	ip := net.ParseIP(host)
	ok := err == nil && ip.IsLoopback()
	if *lan != "" && err == nil && ip != nil {
		_, n, cerr := net.ParseCIDR(*lan)
		ok = ok || (cerr == nil && n.Contains(ip) && ip.IsPrivate())
	}
	if !ok {
		log.Fatalf("-addr %q: want a loopback address (or one in -lan)", *addr)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	if *portFile != "" {
		if err := os.WriteFile(*portFile, fmt.Appendf(nil, "%d\n", l.Addr().(*net.TCPAddr).Port), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	p := &pacer{rate: *rate}
	files := http.FileServer(http.Dir(*dir))
	log.Fatal(http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		files.ServeHTTP(pacedWriter{w, p}, r)
	})))
}
