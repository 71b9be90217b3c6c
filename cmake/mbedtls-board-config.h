/* mbedTLS 2.28 configuration of the firmware builds (cmake/MbedTLSBoard.cmake passes it as
 * MBEDTLS_CONFIG_FILE to mbedTLS's own sources, the C shim and Swift's Clang importer alike, so every
 * struct has one layout). It replaces mbedtls/config.h whole: what is not defined here is off.
 * Only what scep-agent calls is on; `nm -u` on the Swift objects lists those calls.
 * The host build (SwiftPM, unit tests) keeps Debian's libmbedtls-dev and its configuration. */
#ifndef SCEP_MBEDTLS_BOARD_CONFIG_H
#define SCEP_MBEDTLS_BOARD_CONFIG_H

/* --- System --- */
#define MBEDTLS_HAVE_ASM            /* bignum multiply in assembly: RSA private operations dominate an enrollment */
#define MBEDTLS_HAVE_TIME           /* time(): TLS and certificate validity */
#define MBEDTLS_HAVE_TIME_DATE      /* gmtime_r(): X.509 expiry checks (BADCERT_EXPIRED / BADCERT_FUTURE) */
#define MBEDTLS_FS_IO               /* mbedtls_x509_crt_parse_file: the https CA bundle (tlsCAFile) */

/* --- Entropy and randomness: CTR-DRBG seeded from the kernel (getrandom, else /dev/urandom) --- */
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_CTR_DRBG_C

/* --- Big numbers, RSA --- */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_GENPRIME            /* mbedtls_rsa_gen_key: new RSA keys */
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15           /* SCEP signatures and KeyTransRecipientInfo (RFC 8894 §3) */
#define MBEDTLS_PKCS1_V21           /* RSASSA-PSS and OAEP from peers (mbedtls_pk_verify_ext) */

/* --- Elliptic curves: ECDSA keys and ECDHE in TLS, P-256 and P-384 only --- */
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM      /* fast reduction for the NIST primes (a few KB) */
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ECDH_C              /* ECDHE key exchange in TLS */

/* --- Ciphers --- */
#define MBEDTLS_CIPHER_C            /* mbedtls_cipher_*: CMS content encryption, AES key wrap by hand (ECB/CBC) */
#define MBEDTLS_AES_C               /* AES-128/256: CMS, TLS, CTR-DRBG */
#define MBEDTLS_AES_ROM_TABLES      /* AES tables as read-only data: no 8 KB of heap-like .bss filled at run time */
#define MBEDTLS_AES_FEWER_TABLES    /* one quarter of those tables (6 KB less), a few rotations more per round */
#define MBEDTLS_DES_C               /* DES and 3DES: scepserver 2.1.0 answers in DES (RFC 8894 §3.5.2) */
#define MBEDTLS_CIPHER_MODE_CBC     /* CMS (DES/3DES/AES-CBC), TLS CBC suites, PWRI's key wrap */
#define MBEDTLS_CIPHER_PADDING_PKCS7 /* CMS content padding */
#define MBEDTLS_GCM_C               /* TLS 1.2 AES-GCM suites */

/* --- Digests --- */
#define MBEDTLS_MD_C
#define MBEDTLS_SHA1_C              /* SCEP with servers that offer nothing better; certificate fingerprints */
#define MBEDTLS_SHA256_C            /* SHA-224/256 */
#define MBEDTLS_SHA512_C            /* SHA-384/512 */
#define MBEDTLS_PKCS5_C             /* PBKDF2 (mbedtls_pkcs5_pbkdf2_hmac): PasswordRecipientInfo (RFC 3211) */

/* --- ASN.1, OIDs, PEM, keys --- */
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C        /* ECDSA signatures, key writing */
#define MBEDTLS_OID_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_PEM_PARSE_C         /* PEM keys and certificates */
#define MBEDTLS_PEM_WRITE_C         /* mbedtls_pk_write_key_pem: the key file */
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_PK_WRITE_C          /* public key DER for CSRs, the key file */
#define MBEDTLS_ERROR_C             /* mbedtls_strerror: readable messages on failure */

/* --- X.509: parse and verify certificates (mbedtls_x509_crt_verify_with_profile) and CRLs --- */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_CRL_PARSE_C    /* mbedtls_x509_crl_parse_der: CRLs from GetCRL are verified */
#define MBEDTLS_X509_CHECK_KEY_USAGE
#define MBEDTLS_X509_CHECK_EXTENDED_KEY_USAGE
#define MBEDTLS_X509_RSASSA_PSS_SUPPORT /* certificates signed with RSASSA-PSS */

/* --- TLS 1.2 client (https SCEP URLs): ECDHE with RSA or ECDSA certificates, AES-GCM or AES-CBC --- */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C           /* client only: no MBEDTLS_SSL_SRV_C */
#define MBEDTLS_SSL_PROTO_TLS1_2    /* the agent sets TLS 1.2 as its minimum; mbedTLS 2.28 has no 1.3 client */
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_SSL_SERVER_NAME_INDICATION /* mbedtls_ssl_set_hostname sends SNI */
#define MBEDTLS_SSL_ENCRYPT_THEN_MAC       /* RFC 7366 for the CBC suites */
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET /* RFC 7627 */
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES     /* tell the server why the handshake failed */
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE  /* the verify callback reads the server certificate */
/* A server may send full 16 KB records (no max_fragment_length negotiation), so input stays 16 KB; what
 * the agent sends is split into 4 KB records: 12 KB less heap per connection. */
#define MBEDTLS_SSL_IN_CONTENT_LEN  16384
#define MBEDTLS_SSL_OUT_CONTENT_LEN 4096

/* Off on purpose (on in Debian's build): TLS server, TLS 1.0/1.1, DHE/PSK/static-RSA key exchange, MD5,
 * RIPEMD-160, Camellia, ARIA, ChaCha20, CCM, HMAC-DRBG, PKCS#12, PSA crypto, threading, self-tests, debug,
 * X.509 writing and CSR parsing (SCEPMessages builds the CSR itself), net_sockets (our own socket code).
 * Without MD5, a legacy encrypted PEM key (Proc-Type: 4,ENCRYPTED) is refused as unsupported. */

#include "mbedtls/check_config.h"

#endif /* SCEP_MBEDTLS_BOARD_CONFIG_H */
