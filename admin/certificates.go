package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"

	"github.com/proxyos/caddy-proxyos/internal/api"
	"github.com/proxyos/caddy-proxyos/internal/audit"
	"github.com/proxyos/caddy-proxyos/internal/certs"
	"github.com/proxyos/caddy-proxyos/internal/router"
)

// handleCertificates lists (GET) the names served over HTTPS and the
// custom certificates, as GET /api/certificates does, or uploads (POST)
// a custom certificate.
func (a *API) handleCertificates(w http.ResponseWriter, r *http.Request) error {
	px, err := app()
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		list, err := api.ListCertificates(r.Context(), px, px.Routes())
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusOK, list)
	case http.MethodPost:
		var in router.CertificateInput
		if err := api.Decode(w, r, &in); err != nil {
			return apiError(err)
		}
		v, err := px.Routes().UploadCertificate(r.Context(), in, audit.AdminAPIActor(r.RemoteAddr))
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusCreated, v)
	}
	return methodNotAllowed(r)
}

// handleCertificate serves /proxyos/certificates/{id} (PUT replaces,
// DELETE deletes) and /proxyos/certificates/renew (POST {"name"}).
func (a *API) handleCertificate(w http.ResponseWriter, r *http.Request) error {
	px, err := app()
	if err != nil {
		return err
	}
	id := strings.TrimPrefix(r.URL.Path, "/proxyos/certificates/")
	actor := audit.AdminAPIActor(r.RemoteAddr)
	switch {
	case id == "" || strings.Contains(id, "/"):
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("no such certificate")}
	case id == "renew" && r.Method == http.MethodPost:
		var in struct {
			Name string `json:"name"`
		}
		if err := api.Decode(w, r, &in); err != nil {
			return apiError(err)
		}
		if err := px.RenewCertificate(r.Context(), in.Name, actor); err != nil {
			return apiError(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case r.Method == http.MethodPut:
		var in router.CertificateInput
		if err := api.Decode(w, r, &in); err != nil {
			return apiError(err)
		}
		v, err := px.Routes().ReplaceCertificate(r.Context(), id, in, actor)
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, http.StatusOK, v)
	case r.Method == http.MethodDelete:
		if err := px.Routes().DeleteCertificate(r.Context(), id, actor); err != nil {
			return apiError(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return methodNotAllowed(r)
}

// certificatesCommand is `caddy proxyos certificates`: the certificates
// page in a terminal.
func certificatesCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "certificates",
		Short: "Lists the names served over HTTPS and the uploaded certificates",
		Long: `
Lists, as the dashboard's Certificates page does, every name the routes
serve over HTTPS (its issuer, when its certificate expires, its state:
ok, expires soon, failing with the CA's error, pending, or none yet)
and the uploaded certificates, through the local admin API
(GET /proxyos/certificates).
`,
		Args: cobra.NoArgs,
		RunE: runCertificates,
	}
	adminFlags(c)
	c.Flags().Bool("json", false, "print the admin API's answer as JSON")
	return c
}

func runCertificates(cmd *cobra.Command, _ []string) error {
	var list api.CertificateList
	if err := adminCall(cmd, http.MethodGet, "/proxyos/certificates", nil, &list); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tISSUER\tNOT_AFTER\tMANAGED\tSTATE")
	for _, e := range list.Served {
		notAfter := "-"
		if e.Certificate != nil {
			notAfter = e.Certificate.NotAfter.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Name, orDash(e.Issuer), notAfter, e.Managed, certState(e))
	}
	tw.Flush() //nolint:errcheck // written to out
	if len(list.Custom) == 0 {
		return nil
	}
	fmt.Fprintln(out, "\nUploaded certificates:")
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tNAMES\tNOT_AFTER\tROUTES\tSTATE")
	for _, c := range list.Custom {
		state := "ok"
		if c.ExpiresSoon {
			state = "expires soon"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", c.ID, c.Name, strings.Join(c.Names, ","), c.NotAfter.UTC().Format(time.RFC3339), len(c.Routes), state)
	}
	return tw.Flush()
}

// certState sums up a served name's state in a few words.
func certState(e certs.Entry) string {
	switch {
	case e.Failing && e.LastAttempt != nil:
		return "failing: " + e.LastAttempt.Error
	case e.Certificate == nil:
		return "none yet"
	case e.Pending:
		return "pending (of the previous tls mode)"
	case e.ExpiresSoon:
		return "expires soon"
	}
	return "ok"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
