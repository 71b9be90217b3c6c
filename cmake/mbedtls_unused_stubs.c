/* Size only, firmware build only.
 *
 * mbedtls_x509_self_test() in Debian's x509.c.o is never called by
 * scep-agent, but its references to the test certificates make the linker extract certs.c.o (54 KB
 * of PEM test data) from libmbedx509.a, which is not built with -ffunction-sections, so
 * --gc-sections cannot drop it. These empty definitions satisfy those four references instead.
 * A board's own mbedTLS built without MBEDTLS_SELF_TEST needs none of this. */
#include <stddef.h>

const char *mbedtls_test_ca_crt = "";
const size_t mbedtls_test_ca_crt_len = 0;
const char *mbedtls_test_cli_crt = "";
const size_t mbedtls_test_cli_crt_len = 0;

/* Likewise ssl_tls.c.o's only reference into ssl_srv.c.o (the TLS server, 20 KB): scep-agent is
 * always a TLS client (MBEDTLS_SSL_IS_CLIENT), so the server handshake step is never reached; if it
 * were, the handshake fails instead of running server code. */
#include <mbedtls/ssl.h>

int mbedtls_ssl_handshake_server_step(mbedtls_ssl_context *ssl)
{
    (void)ssl;
    return MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE;
}
