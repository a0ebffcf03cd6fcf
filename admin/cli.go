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
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "proxyos",
		Short: "Manages proxyos accounts through the local admin API",
		Long: `
Recovers access to proxyos from the host, talking to the running Caddy's
admin API (which only the host can reach):

  caddy proxyos user add <email> [--role admin|operator|viewer]
  caddy proxyos user reset-password <email> [--reset-totp] [--revoke-keys]

The password is prompted for without echo, or read from standard input
with --password-stdin. Changing a password ends the user's sessions;
--reset-totp also turns off the user's two-factor authentication and
removes their passkeys, for a user who lost their authenticator and
recovery codes; --revoke-keys
revokes their API keys, for an account that may have been taken over.
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
				c.Flags().String("address", "", "admin API address (default: from the config, else localhost:2019)")
				c.Flags().StringP("config", "c", "", "config file, to find the admin API address")
				c.Flags().StringP("adapter", "a", "", "adapter of the config file")
				c.Flags().Bool("password-stdin", false, "read the password from standard input")
				user.AddCommand(c)
			}
			cmd.AddCommand(user)
		},
	})
}

func runUserAdd(cmd *cobra.Command, args []string) error {
	role, _ := cmd.Flags().GetString("role")
	pw, err := readPassword(cmd)
	if err != nil {
		return err
	}
	body := map[string]string{"email": args[0], "password": pw, "role": role}
	if err := adminCall(cmd, http.MethodPost, "/proxyos/users", body); err != nil {
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
	if err := adminCall(cmd, http.MethodPut, "/proxyos/users/"+url.PathEscape(args[0]), body); err != nil {
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

// adminCall sends a JSON request to the admin API and turns an error
// answer into an error carrying its message.
func adminCall(cmd *cobra.Command, method, path string, body any) error {
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
	resp.Body.Close()
	return nil
}
