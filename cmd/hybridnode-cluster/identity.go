package main

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hybridnode/hybridnode/bootstrap/cluster"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/identity"
	"github.com/hybridnode/hybridnode/bootstrap/tokenservice"
)

// identityRefused: identity verify ran and the identity did not verify.
type identityRefused struct{ check, msg string }

func (e *identityRefused) Error() string {
	return fmt.Sprintf("identity verify: refused by the %s check: %s", e.check, e.msg)
}

func newIdentityCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "identity",
		Short: "ECS instance identities: verify one offline (why was my node refused?)",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newIdentityVerifyCommand(a))
	return cmd
}

// maxIdentityFile bounds what identity verify reads of a file (documents
// and signatures are a few KB).
const maxIdentityFile = 1 << 20

func newIdentityVerifyCommand(a *app) *cobra.Command {
	var docFile, sigFile, audience, identityCA, output string
	cmd := &cobra.Command{
		Use:   "verify --document FILE --signature FILE --audience A [--identity-ca FILE] [-o json]",
		Short: "Verify an ECS instance identity (document, PKCS#7 signature, audience) as the token service does, offline",
		Long: "Verify an ECS instance identity as the token service does, each check in order with its verdict: " +
			strings.Join(tokenservice.VerifyCheckNames(), ", ") + ".\n" +
			"--document is the metadata service's /latest/dynamic/instance-identity/document, --signature its\n" +
			"/latest/dynamic/instance-identity/pkcs7?audience=A answer (base64, PEM or DER), --audience that A. The signer is\n" +
			"Alibaba Cloud's instance identity certificate (built in) or one of --identity-ca's. Here the audience needs no\n" +
			"time (any 1 to 160 of letters, digits, '.', '_', '/', ':', '-'; the service wants <cluster audience>:<unix seconds>\n" +
			"within its window, and checks its allow-lists, which this does not). Prints the instance when it verifies.\n" +
			"Needs no cluster. Exit code 0 when it verifies, 22 when a check refuses it, 2 on invalid input.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var p []config.Problem
			bad := func(field, got, want string) { p = append(p, config.Problem{Field: field, Got: got, Want: want}) }
			if output != "text" && output != "json" {
				bad("-o/--output", output, "text or json")
			}
			read := func(flag, file, what string) string {
				if file == "" {
					bad(flag, "", what+" (a file)")
					return ""
				}
				b, err := readSmall(file)
				if err != nil {
					bad(flag, file, "a readable file: "+err.Error())
				}
				return string(b)
			}
			document := read("--document", docFile, "the instance identity document, as /latest/dynamic/instance-identity/document gave it")
			signature := read("--signature", sigFile, "the PKCS#7 signature, as /latest/dynamic/instance-identity/pkcs7?audience=... gave it")
			if len(signature) > 1 && signature[0] == 0x30 && signature[1] >= 0x80 { // DER (a SEQUENCE, base64 -d'd): encode it as the service takes it
				signature = base64.StdEncoding.EncodeToString([]byte(signature))
			}
			if audience == "" {
				bad("--audience", "", "the audience the signature was asked for (the pkcs7?audience= value)")
			}
			signers, trust := tokenservice.DefaultSigners(), "Alibaba Cloud's instance identity certificate, built in"
			if identityCA != "" {
				if data, err := readSmall(identityCA); err != nil {
					bad("--identity-ca", identityCA, "a readable PEM file of certificates: "+err.Error())
				} else if certs, err := tokenservice.LoadSigners(data); err != nil {
					bad("--identity-ca", identityCA, "a PEM file of the RSA certificates that sign ECS instance identities: "+err.Error())
				} else {
					signers, trust = certs, identityCA
				}
			}
			if len(p) > 0 {
				return &cluster.InputError{Problems: p}
			}
			v := tokenservice.Verifier{Signers: signers, Audience: tokenservice.AnyAudience}
			doc, checks, err := v.Verify(document, signature, audience)
			r := verifyReport{Verified: err == nil, Audience: audience, Trust: trust, Checks: checks, Signers: pins(signers)}
			r.NotRun = tokenservice.VerifyCheckNames()[len(checks):]
			if err == nil {
				r.Instance = &verifiedInstance{InstanceID: doc.InstanceID, AccountID: doc.AccountID, RegionID: doc.RegionID,
					ZoneID: doc.ZoneID, PrivateIP: doc.PrivateIP}
			} else {
				r.Error = err.Error()
			}
			if output == "json" {
				enc := json.NewEncoder(a.out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else {
				r.writeText(a.out)
			}
			if err != nil {
				ref := &identityRefused{msg: err.Error()}
				if ve, ok := err.(*tokenservice.VerifyError); ok {
					ref.check = ve.Check
				}
				return ref
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&docFile, "document", "", "file: the instance identity document")
	f.StringVar(&sigFile, "signature", "", "file: the PKCS#7 signature (base64 as the metadata service answers, PEM or DER)")
	f.StringVar(&audience, "audience", "", "the audience the signature was asked for")
	f.StringVar(&identityCA, "identity-ca", "", "PEM file of the certificates that sign instance identities (default: Alibaba Cloud's, built in)")
	f.StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func readSmall(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxIdentityFile+1))
	if err == nil && len(b) > maxIdentityFile {
		err = fmt.Errorf("over %d bytes", maxIdentityFile)
	}
	return b, err
}

func pins(certs []*x509.Certificate) []string {
	out := make([]string, 0, len(certs))
	for _, c := range certs {
		out = append(out, "sha256/"+tokenservice.SPKISHA256(c))
	}
	return out
}

// verifyReport is what identity verify prints (-o json: as it is).
type verifyReport struct {
	Verified bool                 `json:"verified"`
	Audience string               `json:"audience"`
	Trust    string               `json:"trust"`
	Signers  []string             `json:"signers"`
	Checks   []tokenservice.Check `json:"checks"`
	NotRun   []string             `json:"notRun,omitempty"`
	Instance *verifiedInstance    `json:"instance,omitempty"`
	Error    string               `json:"error,omitempty"`
}

// verifiedInstance: the document's fields, named as in the document.
type verifiedInstance struct {
	InstanceID string `json:"instance-id"`
	AccountID  string `json:"owner-account-id"`
	RegionID   string `json:"region-id"`
	ZoneID     string `json:"zone-id"`
	PrivateIP  string `json:"private-ipv4"`
}

func (r verifyReport) writeText(w io.Writer) {
	fmt.Fprintf(w, "hybridnode cluster identity verify: audience %q, signers: %s (%s)\n", r.Audience, r.Trust, strings.Join(r.Signers, ", "))
	for _, c := range r.Checks {
		verdict := "PASS"
		if !c.OK {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "%s  %-9s  %s\n", verdict, c.Name, c.Detail)
	}
	for _, name := range r.NotRun {
		fmt.Fprintf(w, "SKIP  %-9s  not run: an earlier check failed\n", name)
	}
	if r.Instance == nil {
		fmt.Fprintln(w, "refused: the identity does not verify")
		return
	}
	in := r.Instance
	for _, kv := range [][2]string{{"instance-id", in.InstanceID}, {"owner-account-id", in.AccountID}, {"region-id", in.RegionID},
		{"zone-id", in.ZoneID}, {"private-ipv4", in.PrivateIP}} {
		fmt.Fprintf(w, "  %-17s %s\n", kv[0], identity.Printable(kv[1], '?', 128))
	}
	fmt.Fprintln(w, "verified: the signature is by a trusted signer and the document is well formed (the service also checks the audience's cluster and time, and its allow-lists)")
}
