package admin

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/proxyos/caddy-proxyos/internal/api"
	"github.com/proxyos/caddy-proxyos/internal/doctor"
	"github.com/proxyos/caddy-proxyos/internal/traffic"
)

// handleOverview answers GET /proxyos/overview: what GET /api/overview
// answers an admin, changes counted from ?day_start= (RFC 3339).
func (a *API) handleOverview(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r)
	}
	px, err := app()
	if err != nil {
		return err
	}
	now := time.Now()
	dayStart, err := api.DayStart(r.URL.Query().Get("day_start"), now)
	if err != nil {
		return apiError(err)
	}
	o, err := api.ReadOverview(r.Context(), px.OverviewSources(), now, dayStart)
	if err != nil {
		return apiError(err)
	}
	return writeJSON(w, http.StatusOK, o)
}

// statusCommand is `caddy proxyos status`: the overview in a terminal.
func statusCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "status",
		Short: "Shows what needs attention: routes, upstreams, certificates, failed logins, changes, the doctor",
		Long: `
Shows, as the dashboard's Overview does, the routes by state (live, in
maintenance, enabled but not live, disabled), upstreams their route's
reverse proxy holds down, certificates expiring within 14 days or
failing, failed logins of the last 24 hours, changes since midnight
(local time) and the doctor's findings other than ok, through the local
admin API (GET /proxyos/overview).

Exit status: 0 when nothing needs attention, 1 when something does (a
route not live, an unhealthy upstream, a certificate, failed logins, a
doctor's finding; routes in maintenance are shown but do not count), 2
when the running Caddy could not be asked.
`,
		Args: cobra.NoArgs,
		RunE: runStatus,
	}
	adminFlags(c)
	c.Flags().Bool("json", false, "print the admin API's answer as JSON")
	return c
}

func runStatus(cmd *cobra.Command, _ []string) error {
	cmd.SilenceUsage = true
	now := time.Now()
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	var o api.Overview
	if err := adminCall(cmd, http.MethodGet, "/proxyos/overview?day_start="+url.QueryEscape(midnight.Format(time.RFC3339)), nil, &o); err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "cannot ask the running Caddy: %v\n", err)
		return exitStatus(cmd, 2)
	}
	out := cmd.OutOrStdout()
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		if err := printJSON(out, o); err != nil {
			return err
		}
	} else {
		printOverview(out, &o, colorful(out))
	}
	if o.NeedsAttention() {
		return exitStatus(cmd, 1)
	}
	return nil
}

// printOverview writes the overview for people: a section per part,
// what needs attention marked, and a last line that sums it up.
func printOverview(w io.Writer, o *api.Overview, color bool) {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return "\x1b[" + code + "m" + s + "\x1b[0m"
	}
	var attention []string
	note := func(n int, one, many string) {
		if n == 1 {
			attention = append(attention, "1 "+one)
		} else if n > 1 {
			attention = append(attention, strconv.Itoa(n)+" "+many)
		}
	}
	rs := o.Routes
	fmt.Fprintf(w, "%s %d in all: %d live, %d in maintenance, %d enabled but not live, %d disabled\n",
		paint("1", "Routes:"), rs.Total, rs.Live, rs.Maintenance, rs.NotLive, rs.Disabled)
	for _, r := range o.RoutesAttention {
		label := "maintenance"
		if r.State == "not_live" {
			label = paint("1;31", "NOT LIVE   ")
		}
		fmt.Fprintf(w, "  %s %s (%s), id %s\n", label, printable(r.Name), printable(strings.Join(r.Hosts, ", ")), printable(r.ID))
	}
	note(rs.NotLive, "route enabled but not live", "routes enabled but not live")

	fmt.Fprintf(w, "%s %d\n", paint("1", "Unhealthy upstreams:"), len(o.Unhealthy))
	for _, u := range o.Unhealthy {
		fmt.Fprintf(w, "  %s %s of %s, id %s\n", paint("1;31", "DOWN"), printable(u.Address), printable(u.RouteName), printable(u.RouteID))
	}
	note(len(o.Unhealthy), "unhealthy upstream", "unhealthy upstreams")

	fmt.Fprintf(w, "%s %d need attention\n", paint("1", "Certificates:"), len(o.Certificates))
	if o.CertificatesError != "" {
		fmt.Fprintf(w, "  %s %s\n", paint("1;31", "ERROR"), printable(o.CertificatesError))
		attention = append(attention, "certificates unread")
	}
	for _, c := range o.Certificates {
		name := printable(c.Name)
		if c.CertificateID != "" {
			name = "uploaded certificate " + name + " (id " + printable(c.CertificateID) + ")"
		}
		switch c.State {
		case "failing":
			fmt.Fprintf(w, "  %s %s: %s\n", paint("1;31", "FAILING"), name, printable(c.Error))
		default:
			expires := ""
			if c.NotAfter != nil {
				expires = " " + c.NotAfter.Local().Format("2006-01-02 15:04")
			}
			fmt.Fprintf(w, "  %s %s: expires%s\n", paint("1;33", "EXPIRES"), name, expires)
		}
	}
	note(len(o.Certificates), "certificate", "certificates")

	failed := strconv.Itoa(o.FailedLogins)
	if o.FailedLogins > 0 {
		failed = paint("1;33", failed) + " (see the audit log)"
	}
	fmt.Fprintf(w, "%s %s\n", paint("1", "Failed logins, last 24 h:"), failed)
	note(o.FailedLogins, "failed login", "failed logins")
	fmt.Fprintf(w, "%s %d\n", paint("1", "Changes today:"), o.Changes)

	fmt.Fprintf(w, "%s %d findings\n", paint("1", "Doctor:"), len(o.Doctor))
	for _, f := range o.Doctor {
		label := paint("1;33", "WARNING")
		if f.Severity == doctor.Problem {
			label = paint("1;31", "PROBLEM")
		}
		fmt.Fprintf(w, "  %s %s: %s\n          fix: %s\n", label, printable(f.ID), printable(f.Saw), printable(f.Fix))
	}
	note(len(o.Doctor), "doctor's finding (caddy proxyos doctor tells more)", "doctor's findings (caddy proxyos doctor tells more)")

	if len(attention) == 0 {
		fmt.Fprintf(w, "\n%s\n", paint("32", "Nothing needs attention."))
		return
	}
	fmt.Fprintf(w, "\n%s %s\n", paint("1;33", "Needs attention:"), strings.Join(attention, ", "))
}

// routeRef is what the CLI shows of a route.
type routeRef struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Hosts []string `json:"hosts"`
}

func (r routeRef) String() string {
	return fmt.Sprintf("%s (%s), id %s", printable(r.Name), printable(strings.Join(r.Hosts, ", ")), printable(r.ID))
}

// findRoute finds the route whose id or one of whose hosts is arg.
func findRoute(cmd *cobra.Command, arg string) (routeRef, error) {
	var list struct {
		Routes []routeRef `json:"routes"`
	}
	if err := adminCall(cmd, http.MethodGet, "/proxyos/routes", nil, &list); err != nil {
		return routeRef{}, err
	}
	host := strings.TrimSuffix(strings.ToLower(arg), ".")
	for _, r := range list.Routes {
		if r.ID == arg {
			return r, nil
		}
	}
	for _, r := range list.Routes {
		for _, h := range r.Hosts {
			if strings.ToLower(h) == host {
				return r, nil
			}
		}
	}
	return routeRef{}, fmt.Errorf("no route has the id or host %q (caddy proxyos export lists them)", arg)
}

// trafficCommand is `caddy proxyos traffic`: a route's last hour.
func trafficCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "traffic <route id or host>",
		Short: "Shows a route's traffic over the last hour: requests by status class, requests/s, p50/p95 latency",
		Long: `
Shows, as the route's page in the dashboard does, a route's last hour
through the local admin API (GET /proxyos/routes/{id}/traffic): the
requests by status class, requests per second over the last minute on
this node, the median and 95th percentile latency per minute (estimates
within the latency histogram's buckets) and a line of the requests per
minute. In cluster mode each node's minutes and their sum.
`,
		Args: cobra.ExactArgs(1),
		RunE: runTraffic,
	}
	adminFlags(c)
	c.Flags().Bool("json", false, "print the admin API's answer as JSON")
	return c
}

func runTraffic(cmd *cobra.Command, args []string) error {
	cmd.SilenceUsage = true
	rt, err := findRoute(cmd, args[0])
	if err != nil {
		return err
	}
	var s traffic.Series
	if err := adminCall(cmd, http.MethodGet, "/proxyos/routes/"+url.PathEscape(rt.ID)+"/traffic", nil, &s); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		return printJSON(out, s)
	}
	printTraffic(out, rt, s)
	return nil
}

// printTraffic writes a route's last hour for people.
func printTraffic(w io.Writer, rt routeRef, s traffic.Series) {
	fmt.Fprintf(w, "Route %s: the last hour\n\n", rt)
	// Now: this node's last minute of 10-second slots.
	var lastMinute uint64
	if step := max(s.LocalStep, 1); len(s.Local.Points) > 0 {
		n := min(len(s.Local.Points), 60/step)
		for _, p := range s.Local.Points[len(s.Local.Points)-n:] {
			lastMinute += total(p)
		}
		fmt.Fprintf(w, "Now, on this node (%s): %s requests/s over the last minute\n\n", printable(s.Local.Node), perSecond(lastMinute, n*step))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tREQUESTS\t1xx\t2xx\t3xx\t4xx\t5xx\tP50 (LAST)\tP95 (LAST)\tP95 (WORST)\tPER MINUTE")
	row := func(name string, ps []traffic.Point) {
		var classes [5]uint64
		var last traffic.Point
		var worst float64
		for _, p := range ps {
			for i, n := range p.Requests {
				classes[i] += n
			}
			if total(p) > 0 {
				last = p
				worst = max(worst, p.P95)
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", name, classes[0]+classes[1]+classes[2]+classes[3]+classes[4],
			classes[0], classes[1], classes[2], classes[3], classes[4], ms(last.P50), ms(last.P95), ms(worst), sparkline(ps))
	}
	for _, n := range s.Nodes {
		row(printable(n.Node), n.Points)
	}
	if len(s.Nodes) != 1 {
		row("all nodes", s.Sum)
	}
	tw.Flush() //nolint:errcheck // written to w
	fmt.Fprintf(w, "\nPer minute; P50/P95 (LAST) are of the latest minute with requests. The percentiles are estimates\nwithin the latency histogram's buckets.\n")
}

// total is the requests of p.
func total(p traffic.Point) uint64 {
	var n uint64
	for _, c := range p.Requests {
		n += c
	}
	return n
}

func perSecond(n uint64, seconds int) string {
	if seconds <= 0 {
		return "0"
	}
	return strconv.FormatFloat(float64(n)/float64(seconds), 'f', 2, 64)
}

func ms(v float64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + " ms"
}

// sparkline draws the requests of ps, one character each: "·" for none,
// else a bar from ▁ to █ scaled to the most.
func sparkline(ps []traffic.Point) string {
	const bars = "▁▂▃▄▅▆▇█"
	var most uint64
	for _, p := range ps {
		most = max(most, total(p))
	}
	var b strings.Builder
	for _, p := range ps {
		n := total(p)
		if n == 0 {
			b.WriteString("·")
			continue
		}
		i := int((n*8 - 1) / most) // 0…7 for 1…most
		r, _ := utf8.DecodeRuneInString(bars[i*3:])
		b.WriteRune(r)
	}
	return b.String()
}

// requestsCommand is `caddy proxyos requests`: a route's request log.
func requestsCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "requests <route id or host>",
		Short: "Lists a route's request log on this node, newest first",
		Long: `
Lists the requests of a route with request_log that this node served,
newest first, through the local admin API (GET
/proxyos/routes/{id}/requests): time, client IP, method, status,
duration, the user the route's login let in, and the path without its
query. The log holds no query, header, cookie or body. Each node keeps
its own log in memory: in cluster mode run this on each node to see
its requests.
`,
		Args: cobra.ExactArgs(1),
		RunE: runRequests,
	}
	adminFlags(c)
	c.Flags().Bool("json", false, "print the admin API's answer as JSON")
	return c
}

func runRequests(cmd *cobra.Command, args []string) error {
	cmd.SilenceUsage = true
	rt, err := findRoute(cmd, args[0])
	if err != nil {
		return err
	}
	var log api.RequestLog
	if err := adminCall(cmd, http.MethodGet, "/proxyos/routes/"+url.PathEscape(rt.ID)+"/requests", nil, &log); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		return printJSON(out, log)
	}
	if !log.Enabled {
		fmt.Fprintf(out, "The request log is off for route %s.\nTurn on \"Keep a request log\" in the route form, or set \"request_log\": true in its JSON.\n", rt)
		return nil
	}
	where := "this node (" + printable(log.Node) + ")"
	fmt.Fprintf(out, "Request log of route %s on %s, newest first: %d of at most %d.\n", rt, where, len(log.Requests), log.Size)
	if log.Cluster {
		fmt.Fprintln(out, "Each node keeps its own log: other nodes' requests are in theirs.")
	}
	if len(log.Requests) == 0 {
		fmt.Fprintln(out, "No requests yet.")
		return nil
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tCLIENT\tMETHOD\tSTATUS\tDURATION\tUSER\tPATH")
	for _, r := range log.Requests {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.Time.Local().Format("2006-01-02 15:04:05.000"), printable(r.ClientIP),
			printable(r.Method), r.Status, strconv.FormatFloat(r.DurationMS, 'f', -1, 64)+" ms", orDash(printable(r.User)), printable(r.Path))
	}
	return tw.Flush()
}

// printable escapes what a terminal would act on (control characters,
// escape sequences, bidirectional overrides), as \x.. or \u....: paths,
// users and names in these lists are other people's input.
func printable(s string) string {
	escape := func(r rune, size int) bool {
		return r == utf8.RuneError && size == 1 || !unicode.IsPrint(r) && r != ' '
	}
	clean := true
	for i := 0; i < len(s) && clean; {
		r, size := utf8.DecodeRuneInString(s[i:])
		clean = !escape(r, size)
		i += size
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case escape(r, size) && r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case escape(r, size):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
