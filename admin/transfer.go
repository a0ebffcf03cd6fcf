package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/proxyos/caddy-proxyos/internal/account"
	"github.com/proxyos/caddy-proxyos/internal/api"
	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/router"
)

// handleExport answers the export document (GET /proxyos/export,
// ?history=1, ?users=1).
func (a *API) handleExport(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r)
	}
	px, err := app()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	d, err := api.Export(r.Context(), px.Routes(), px.Accounts(), account.HostCaller(r.RemoteAddr), q.Get("history") == "1", q.Get("users") == "1")
	if err != nil {
		return apiError(err)
	}
	return writeJSON(w, http.StatusOK, d)
}

// handleImport plans or applies an import (POST /proxyos/import,
// ?from=json|npm|caddyfile, ?dry_run=1, ?remove=1), as POST /api/import.
func (a *API) handleImport(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r)
	}
	px, err := app()
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20+1))
	if err != nil {
		return apiError(err)
	}
	q := r.URL.Query()
	res, err := api.Import(r.Context(), px.Routes(), q.Get("from"), body, router.ImportOptions{
		DryRun: q.Get("dry_run") == "1", Remove: q.Get("remove") == "1"}, audit.AdminAPIActor(r.RemoteAddr))
	if err != nil {
		return apiError(err)
	}
	return writeJSON(w, http.StatusOK, res)
}

// exportCommand is caddy proxyos export.
func exportCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "export [--history] [--users] [-o <file>]",
		Short: "Writes the routes (and optionally their history, users and API keys) as one JSON document",
		Args:  cobra.NoArgs,
		RunE:  runExport,
	}
	adminFlags(c)
	c.Flags().Bool("history", false, "include each route's versions")
	c.Flags().Bool("users", false, "include users and API keys (without passwords, two-factor secrets, passkeys or key digests)")
	c.Flags().StringP("output", "o", "", "write to this file (default: standard output)")
	return c
}

// importCommand is caddy proxyos import.
func importCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "import [--from json|npm|caddyfile] [--dry-run] [--remove] <file>",
		Short: "Imports routes from an export, a Nginx Proxy Manager database or a Caddyfile, all or nothing",
		Args:  cobra.ExactArgs(1),
		RunE:  runImport,
	}
	adminFlags(c)
	c.Flags().String("from", "json", "format of the file: json (a proxyos export), npm (Nginx Proxy Manager's database.sqlite) or caddyfile")
	c.Flags().Bool("dry-run", false, "show what would change, change nothing")
	c.Flags().Bool("remove", false, "also delete the routes the file does not have")
	return c
}

func runExport(cmd *cobra.Command, _ []string) error {
	q := url.Values{}
	for _, f := range []string{"history", "users"} {
		if on, _ := cmd.Flags().GetBool(f); on {
			q.Set(f, "1")
		}
	}
	var doc json.RawMessage
	if err := adminGet(cmd, "/proxyos/export?"+q.Encode(), &doc); err != nil {
		return err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, doc, "", "  "); err != nil {
		return err
	}
	pretty.WriteByte('\n')
	if out, _ := cmd.Flags().GetString("output"); out != "" {
		return os.WriteFile(out, pretty.Bytes(), 0o600)
	}
	_, err := cmd.OutOrStdout().Write(pretty.Bytes())
	return err
}

func runImport(cmd *cobra.Command, args []string) error {
	from, _ := cmd.Flags().GetString("from")
	data, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	var body any
	switch from {
	case "json":
		body = json.RawMessage(data)
	case "npm":
		body = map[string][]byte{"database": data}
	case "caddyfile":
		body = map[string]string{"caddyfile": string(data)}
	default:
		return fmt.Errorf("--from %q: want json, npm or caddyfile", from)
	}
	q := url.Values{"from": {from}}
	dry, _ := cmd.Flags().GetBool("dry-run")
	if dry {
		q.Set("dry_run", "1")
	}
	if remove, _ := cmd.Flags().GetBool("remove"); remove {
		q.Set("remove", "1")
	}
	var res api.ImportResult
	if err := adminCall(cmd, http.MethodPost, "/proxyos/import?"+q.Encode(), body, &res); err != nil {
		return err
	}
	printPlan(cmd.OutOrStdout(), &res)
	return nil
}

// printPlan writes a plan as a person reads it.
func printPlan(w io.Writer, res *api.ImportResult) {
	p := res.Plan
	for _, r := range p.Added {
		fmt.Fprintf(w, "+ %s (%s)\n", r.Name, strings.Join(r.Hosts, ", "))
	}
	for _, r := range p.Changed {
		fmt.Fprintf(w, "~ %s (%s)\n", r.Name, strings.Join(r.Hosts, ", "))
		for _, c := range r.Changes {
			before, _ := json.Marshal(c.Before)
			after, _ := json.Marshal(c.After)
			fmt.Fprintf(w, "    %s: %s → %s\n", c.Field, before, after)
		}
	}
	for _, r := range p.Removed {
		fmt.Fprintf(w, "- %s (%s)\n", r.Name, strings.Join(r.Hosts, ", "))
	}
	for _, r := range p.Refused {
		fmt.Fprintf(w, "! routes[%d] %s (%s): %s: %s\n", r.Index, r.Name, strings.Join(r.Hosts, ", "), r.Field, r.Reason)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "  note: %s: %s\n", n.Source, n.Reason)
	}
	verdict := "dry run: nothing changed"
	if p.Applied {
		verdict = "applied"
	}
	fmt.Fprintf(w, "%d added, %d changed, %d unchanged, %d removed, %d refused; %s\n",
		len(p.Added), len(p.Changed), len(p.Unchanged), len(p.Removed), len(p.Refused), verdict)
}

// adminGet reads a JSON answer of the admin API.
func adminGet(cmd *cobra.Command, path string, out any) error {
	address, _ := cmd.Flags().GetString("address")
	config, _ := cmd.Flags().GetString("config")
	adapter, _ := cmd.Flags().GetString("adapter")
	addr, err := caddycmd.DetermineAdminAPIAddress(address, nil, config, adapter)
	if err != nil {
		return err
	}
	resp, err := caddycmd.AdminAPIRequest(addr, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}
