package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/internal/backup"
)

func newBackupCmd(g *globals) *cobra.Command {
	var o backup.Options
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "write the CA (database, certificates, CRLs; keys with --with-keys) to one archive",
		Long: `Write a gzip-compressed tar archive of the CA directory: a consistent copy of wsca.db taken in
one read transaction (other wsca commands may run meanwhile), root.crt, intermediate.crt, ca.crt,
crl.pem and root-crl.pem, and with --with-keys the CA keys as they are on disk (encrypted with the CA
passphrase). FILE is written atomically with mode 0600. An existing FILE is refused unless --force; then it
is replaced only once the new one is complete. The backup is recorded in the audit log; a read-only CA
directory (a snapshot, a read-only mount) is backed up all the same, with a warning that it could not be
recorded.`,
		Example: `  $ wsca backup /var/backups/wsca-$(date +%F).tar.gz
  $ wsca backup --with-keys /media/usb/wsca-full.tar.gz`,
		Args: exactArgs(1, "the archive file to write"),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := backup.Create(g.caDir(), args[0], o)
			if err != nil {
				return err
			}
			for _, w := range m.Warnings {
				fmt.Fprintf(g.env.stderr, "wsca: warning: %s\n", w)
			}
			if g.verbose {
				fmt.Fprintf(g.env.stderr, "wsca: wrote %s: %d files, keys included: %t\n", args[0], len(m.Files), m.WithKeys)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.WithKeys, "with-keys", false, "include the CA keys (still encrypted)")
	cmd.Flags().BoolVar(&o.Replace, "force", false, "replace FILE if it exists")
	return cmd
}

func newRestoreCmd(g *globals) *cobra.Command {
	var o backup.RestoreOptions
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "restore a CA directory from a wsca backup archive",
		Long: `Unpack a backup made by wsca backup into --dir. The archive is checked completely first, in a
staging directory inside --dir (the same file system, also when --dir is a mount point): checksums, the
database (opens, every certificate parses, the audit chain verifies), the certificate chain, the CRLs,
and the keys (they must open with the CA passphrase and match). A directory that already holds a CA is
refused unless --force; then its files are moved into a replaced-TIMESTAMP directory inside it rather
than deleted. The switch is journalled: if restore is killed, --dir holds the complete old CA, or the
journal from which the next wsca command completes the new one.`,
		Example: `  $ wsca --dir /etc/wsca restore /var/backups/wsca-2026-11-26.tar.gz
  $ wsca --dir /etc/wsca restore --force /media/usb/wsca-full.tar.gz`,
		Args: exactArgs(1, "the archive file to restore"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Step = g.env.restoreStep
			res, err := backup.Restore(g.caDir(), args[0], o)
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(g.env.stderr, "wsca: warning: %s\n", w)
			}
			fmt.Fprintf(g.env.stdout, "restored %d records from %s (made %s)\n", res.Records, args[0], res.Manifest.Created.Format("2006-01-02 15:04:05Z07:00"))
			if res.Replaced != "" {
				fmt.Fprintf(g.env.stdout, "the previous CA's files are in %s\n", res.Replaced)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.Force, "force", false, "replace a CA that is already in --dir (its files are kept aside)")
	return cmd
}
