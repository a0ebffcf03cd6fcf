package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/proxyos/caddy-proxyos/internal/doctor"
)

// handleDoctor answers GET /proxyos/doctor: the server-side findings of
// the doctor.
func (a *API) handleDoctor(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r)
	}
	px, err := app()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, px.Doctor(r.Context()))
}

// doctorCommand is `caddy proxyos doctor`.
func doctorCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Diagnoses the running proxyos: logins that loop, its url, secret, database, certificates",
		Long: `
Asks the running Caddy (through its admin API) for the findings of its
checks, then requests the dashboard at url (or --url) like a browser
would: the certificate, the redirects, the login page, and whether the
server sees the browser's scheme and host. Each finding says what it saw,
why it matters and the fix.

Exit status: 0 when all is well, 1 with warnings, 2 with problems.
`,
		Args: cobra.NoArgs,
		RunE: runDoctor,
	}
	adminFlags(c)
	c.Flags().String("url", "", "address to probe, as people type it (default: the app's url)")
	c.Flags().Bool("json", false, "print the report as JSON")
	return c
}

func runDoctor(cmd *cobra.Command, _ []string) error {
	cmd.SilenceUsage = true
	var rep doctor.Report
	if err := adminCall(cmd, http.MethodGet, "/proxyos/doctor", nil, &rep); err != nil {
		rep = doctor.Report{At: time.Now().UTC()}
		rep.Add(doctor.Finding{ID: "caddy_running", Severity: doctor.Problem,
			Saw: "cannot ask the running Caddy: " + err.Error(),
			Why: "the doctor examines a running instance through its admin API",
			Fix: "start Caddy, or name its admin endpoint with --address or --config"})
	}
	raw, _ := cmd.Flags().GetString("url")
	if raw == "" {
		raw = rep.URL
	}
	if raw != "" {
		target, err := url.Parse(raw)
		if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
			return fmt.Errorf("--url: %q is not an http:// or https:// address", raw)
		}
		var canonical *url.URL
		if rep.URL != "" {
			canonical, _ = url.Parse(rep.URL)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		rep.Add(new(doctor.Prober).Probe(ctx, target, canonical)...)
	}
	out := cmd.OutOrStdout()
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printReport(out, rep, colorful(out))
	}
	return exitStatus(cmd, rep.ExitCode())
}

// printReport writes the report for people: problems and warnings with
// why and the fix, then what was fine, one line each.
func printReport(w io.Writer, rep doctor.Report, color bool) {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return "\x1b[" + code + "m" + s + "\x1b[0m"
	}
	labels := map[doctor.Severity]string{
		doctor.Problem: paint("1;31", "PROBLEM"),
		doctor.Warning: paint("1;33", "WARNING"),
		doctor.OK:      paint("32", "ok     "),
	}
	for _, f := range rep.Findings {
		fmt.Fprintf(w, "%s %s: %s\n", labels[f.Severity], paint("1", f.ID), f.Saw)
		if f.Severity != doctor.OK {
			fmt.Fprintf(w, "        why: %s\n        fix: %s\n", f.Why, f.Fix)
		}
	}
	counts := map[doctor.Severity]int{}
	for _, f := range rep.Findings {
		counts[f.Severity]++
	}
	fmt.Fprintf(w, "\n%d problems, %d warnings, %d ok\n", counts[doctor.Problem], counts[doctor.Warning], counts[doctor.OK])
}

// colorful reports whether w is a terminal that takes colours.
func colorful(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("NO_COLOR") == "" && !strings.EqualFold(os.Getenv("TERM"), "dumb")
}

// exitStatus makes the command end with the status code: caddy exits 1
// for an error and the status of a command function's result above 1.
func exitStatus(cmd *cobra.Command, code int) error {
	cmd.SilenceErrors = true
	switch code {
	case 0:
		return nil
	case 1:
		return errors.New("warnings")
	}
	return caddycmd.WrapCommandFuncForCobra(func(caddycmd.Flags) (int, error) { return code, nil })(cmd, nil)
}
