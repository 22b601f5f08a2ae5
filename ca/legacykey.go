package ca

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// This file reads the encrypted key formats an existing CA hands over at `wsca import`: decrypt-only, since
// wsca re-encrypts every key it writes with EncryptKey (PBES2, AES-256-CBC).
//
//   - PBES2 with des-ede3-cbc: what OpenSSL 3 writes for `openssl genrsa -des3`, for `openssl req -newkey`
//     without -noenc, and therefore for Debian's easy-rsa 3.1 `build-ca` with a passphrase (its final
//     `req -keyout` re-encrypts the key with 3DES). Handled by pbes2Cipher next to AES-CBC.
//   - Legacy "Proc-Type: 4,ENCRYPTED" PEM (OpenSSL's traditional format: `genrsa -des3 -traditional`,
//     OpenSSL 1.0 and older, many guides): handled here.

// legacyPEMTypes are the block types OpenSSL writes in the traditional encrypted format.
var legacyPEMTypes = map[string]bool{"RSA PRIVATE KEY": true, "EC PRIVATE KEY": true, "PRIVATE KEY": true}

// decryptLegacyPEM decrypts a "Proc-Type: 4,ENCRYPTED" PEM block and returns the plaintext DER of the
// block's type. It uses crypto/x509's DecryptPEMBlock, which Go deprecated because the format is weak
// (EVP_BytesToKey with one MD5 round, no authentication) and its wrong-passphrase check is only the CBC
// padding. That is acceptable here and only here: the key is decrypted once to migrate it, and ParseKey's
// caller re-encrypts it with PBES2; a wrong passphrase that happens to leave valid padding still fails to
// parse as a key and is reported as ErrWrongPassphrase. DecryptPEMBlock validates the IV length and the
// ciphertext length before decrypting, so crafted input yields an error, not a panic (FuzzParseKey).
func decryptLegacyPEM(block *pem.Block, passphrase []byte) ([]byte, error) {
	if block.Headers["Proc-Type"] != "4,ENCRYPTED" || block.Headers["DEK-Info"] == "" || len(block.Headers) != 2 {
		return nil, fmt.Errorf("%w: unexpected PEM headers in %q block (want Proc-Type: 4,ENCRYPTED and DEK-Info)", ErrMalformedKey, block.Type)
	}
	if !legacyPEMTypes[block.Type] {
		return nil, fmt.Errorf("%w: legacy encrypted PEM block %q", ErrMalformedKey, block.Type)
	}
	if len(passphrase) == 0 {
		return nil, ErrPassphraseRequired
	}
	//lint:ignore SA1019 decrypt-only migration of OpenSSL's traditional format; see the function comment.
	plain, err := x509.DecryptPEMBlock(block, passphrase) //nolint:staticcheck
	if errors.Is(err, x509.IncorrectPasswordError) {
		return nil, ErrWrongPassphrase
	}
	if err != nil {
		// Unknown DEK-Info cipher, bad IV, ciphertext not a whole number of blocks.
		return nil, fmt.Errorf("%w: legacy encrypted PEM: %s", ErrMalformedKey, strings.TrimPrefix(err.Error(), "x509: "))
	}
	return plain, nil
}
