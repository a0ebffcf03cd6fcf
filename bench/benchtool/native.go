package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
)

// cmdNative prints Caddy's own equivalent of n managed routes as a
// Caddyfile: one site block per host r1…r<n>, each a reverse_proxy to
// the upstream, the first one also setting X-Bench-Version (the route
// that apply benchmarks change). run.sh adapts it with `caddy adapt`, so
// the JSON baseline is exactly what Caddy makes of those site blocks.
func cmdNative(args []string) error {
	fs := flag.NewFlagSet("native", flag.ExitOnError)
	n := fs.Int("n", 0, "site blocks")
	port := fs.Int("port", 0, "port of every site")
	upstream := fs.String("upstream", "", "upstream host:port")
	admin := fs.String("admin", "", "admin endpoint host:port")
	version := fs.String("version", "a", "X-Bench-Version of the first site")
	fs.Parse(args) //nolint:errcheck // ExitOnError
	if *n < 1 || *port == 0 || *upstream == "" || *admin == "" {
		return errors.New("need -n ≥ 1, -port, -upstream and -admin")
	}
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(w, "{\n\tadmin %s\n\tdefault_bind 127.0.0.1\n\tpersist_config off\n\tlog {\n\t\tlevel WARN\n\t}\n}\n", *admin)
	for i := 1; i <= *n; i++ {
		fmt.Fprintf(w, "\nhttp://%s:%d {\n", hostName(i), *port)
		if i == 1 {
			fmt.Fprintf(w, "\theader X-Bench-Version %s {\n\t\tdefer\n\t}\n", *version)
		}
		fmt.Fprintf(w, "\treverse_proxy %s\n}\n", *upstream)
	}
	return w.Flush()
}

// cmdMiddle prints the host of the route in the middle of a native
// config's single server: Caddy tries routes in order, so this host
// costs an average lookup, neither the best nor the worst case.
func cmdMiddle(args []string) error {
	fs := flag.NewFlagSet("middle", flag.ExitOnError)
	file := fs.String("config", "", "adapted config JSON")
	fs.Parse(args) //nolint:errcheck // ExitOnError
	raw, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Match []struct {
							Host []string `json:"host"`
						} `json:"match"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return err
	}
	if len(cfg.Apps.HTTP.Servers) != 1 {
		return fmt.Errorf("want one server, config has %d", len(cfg.Apps.HTTP.Servers))
	}
	for _, srv := range cfg.Apps.HTTP.Servers {
		if len(srv.Routes) == 0 {
			return errors.New("server has no routes")
		}
		r := srv.Routes[len(srv.Routes)/2]
		if len(r.Match) == 0 || len(r.Match[0].Host) == 0 {
			return errors.New("middle route has no host matcher")
		}
		fmt.Println(r.Match[0].Host[0])
	}
	return nil
}
