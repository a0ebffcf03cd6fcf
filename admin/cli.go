package admin

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "proxyos",
		Short: "Manages proxyos accounts and backups, shows its status and traffic, and diagnoses it, through the local admin API",
		Long: `
Recovers access to proxyos from the host, talking to the running Caddy's
admin API (which only the host can reach):

  caddy proxyos user add <email> [--role admin|operator|viewer]
  caddy proxyos user reset-password <email> [--reset-totp] [--revoke-keys]
  caddy proxyos backup <file>
  caddy proxyos status [--json]
  caddy proxyos traffic <route id or host> [--json]
  caddy proxyos requests <route id or host> [--json]
  caddy proxyos doctor [--url <address>] [--json]
  caddy proxyos certificates [--json]
  caddy proxyos export [--history] [--users] [-o <file>]
  caddy proxyos import [--from json|npm|caddyfile] [--dry-run] [--remove] <file>

The password is prompted for without echo, or read from standard input
with --password-stdin. Changing a password ends the user's sessions;
--reset-totp also turns off the user's two-factor authentication and
removes their passkeys, for a user who lost their authenticator and
recovery codes; --revoke-keys
revokes their API keys, for an account that may have been taken over.

backup writes a consistent copy of the SQLite database to <file> while
Caddy runs (the Caddy process writes it; it must not exist yet). Keep the
secret with it: the copy's sealed data opens only with the same secret.

status shows what needs attention, as the dashboard's Overview does
(exit status 1 when something does); traffic a route's last hour;
requests a route's request log on this node (see each one's --help).
doctor diagnoses the running instance (see caddy proxyos doctor --help);
certificates lists the names served over HTTPS and their certificates.
export writes the routes as one JSON document (request header values as
null; --users adds users and API keys without any secret). import shows
what a file would add, change and remove (--dry-run), or applies it all
together or not at all: --from json takes an export, npm Nginx Proxy
Manager's database.sqlite, caddyfile a Caddyfile.
`,
		CobraFunc: func(cmd *cobra.Command) {
			user := &cobra.Command{Use: "user", Short: "Adds users and resets passwords"}
			add := &cobra.Command{
				Use:   "add <email>",
				Short: "Creates a user",
				Args:  cobra.ExactArgs(1),
				RunE:  runUserAdd,
			}
			add.Flags().String("role", "admin", "role of the new user: admin, operator or viewer")
			reset := &cobra.Command{
				Use:   "reset-password <email>",
				Short: "Sets a new password and ends the user's sessions",
				Args:  cobra.ExactArgs(1),
				RunE:  runResetPassword,
			}
			reset.Flags().Bool("reset-totp", false, "also turn off two-factor authentication, drop the recovery codes and remove the passkeys")
			reset.Flags().Bool("revoke-keys", false, "also revoke all of the user's API keys (the account may have been taken over)")
			for _, c := range []*cobra.Command{add, reset} {
				adminFlags(c)
				c.Flags().Bool("password-stdin", false, "read the password from standard input")
				user.AddCommand(c)
			}
			cmd.AddCommand(user)
			backup := &cobra.Command{
				Use:   "backup <file>",
				Short: "Writes a consistent copy of the SQLite database to a new file",
				Args:  cobra.ExactArgs(1),
				RunE:  runBackup,
			}
			adminFlags(backup)
			cmd.AddCommand(backup, exportCommand(), importCommand())
			cmd.AddCommand(doctorCommand(), certificatesCommand())
			cmd.AddCommand(statusCommand(), trafficCommand(), requestsCommand())
		},
	})
}

// adminFlags adds the flags that find the admin API to c.
func adminFlags(c *cobra.Command) {
	c.Flags().String("address", "", "admin API address (default: from the config, else localhost:2019)")
	c.Flags().StringP("config", "c", "", "config file, to find the admin API address")
	c.Flags().StringP("adapter", "a", "", "adapter of the config file")
}

func runBackup(cmd *cobra.Command, args []string) error {
	path, err := filepath.Abs(args[0])
	if err != nil {
		return err
	}
	var b struct {
		Path  string `json:"path"`
		Bytes int64  `json:"bytes"`
	}
	if err := adminCall(cmd, http.MethodPost, "/proxyos/backup", map[string]string{"path": path}, &b); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes); keep the secret with it: its sealed data opens only with the same secret\n", b.Path, b.Bytes)
	return nil
}

func runUserAdd(cmd *cobra.Command, args []string) error {
	role, _ := cmd.Flags().GetString("role")
	pw, err := readPassword(cmd)
	if err != nil {
		return err
	}
	body := map[string]string{"email": args[0], "password": pw, "role": role}
	if err := adminCall(cmd, http.MethodPost, "/proxyos/users", body, nil); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "created %s (%s)\n", args[0], role)
	return nil
}

func runResetPassword(cmd *cobra.Command, args []string) error {
	pw, err := readPassword(cmd)
	if err != nil {
		return err
	}
	resetTOTP, _ := cmd.Flags().GetBool("reset-totp")
	revokeKeys, _ := cmd.Flags().GetBool("revoke-keys")
	body := map[string]any{"password": pw}
	if resetTOTP {
		body["reset_totp"] = true
	}
	if revokeKeys {
		body["revoke_keys"] = true
	}
	if err := adminCall(cmd, http.MethodPut, "/proxyos/users/"+url.PathEscape(args[0]), body, nil); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "password of %s changed; their sessions have ended\n", args[0])
	if resetTOTP {
		fmt.Fprintf(cmd.OutOrStdout(), "two-factor authentication of %s is off; they can set it up again under My account\n", args[0])
	}
	if revokeKeys {
		fmt.Fprintf(cmd.OutOrStdout(), "all API keys of %s are revoked\n", args[0])
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "their API keys still work; if the account may have been taken over, run again with --revoke-keys\n")
	}
	return nil
}

// readPassword prompts twice without echo on a terminal, or reads one
// line from standard input with --password-stdin.
func readPassword(cmd *cobra.Command) (string, error) {
	fromStdin, _ := cmd.Flags().GetBool("password-stdin")
	if fromStdin || !term.IsTerminal(int(os.Stdin.Fd())) {
		line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading password: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
	pw, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(cmd.ErrOrStderr())
	if err != nil {
		return "", fmt.Errorf("reading password: %w", err)
	}
	fmt.Fprint(cmd.ErrOrStderr(), "Again: ")
	again, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(cmd.ErrOrStderr())
	if err != nil {
		return "", fmt.Errorf("reading password: %w", err)
	}
	if string(pw) != string(again) {
		return "", errors.New("the passwords differ")
	}
	return string(pw), nil
}

// adminCall sends a JSON request to the admin API, turns an error answer
// into an error carrying its message, and decodes the answer into out
// unless it is nil.
func adminCall(cmd *cobra.Command, method, path string, body, out any) error {
	address, _ := cmd.Flags().GetString("address")
	config, _ := cmd.Flags().GetString("config")
	adapter, _ := cmd.Flags().GetString("adapter")
	addr, err := caddycmd.DetermineAdminAPIAddress(address, nil, config, adapter)
	if err != nil {
		return err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := caddycmd.AdminAPIRequest(addr, method, path, http.Header{"Content-Type": {"application/json"}}, bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
