// The C shim: fixes types, forwards variadic calls and macros, and hands argv to Swift.
// No logic lives here (see shared/STYLE.md, "Wrapping C").
#ifndef CSCEPSHIM_H
#define CSCEPSHIM_H

#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/signalfd.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <pwd.h>
#include <grp.h>
#include <spawn.h>
#include <syslog.h>

#include <mbedtls/aes.h>
#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/bignum.h>
#include <mbedtls/cipher.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/des.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha1.h>
#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_crl.h>

// Cryptoki types from Debian libp11-kit-dev; the header is self-contained (defines CK_PTR and friends).
#include <p11-kit-1/p11-kit/pkcs11.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Reads errno (a macro Swift cannot see in Embedded mode).
static inline int CSCEPShim_errno(void) { return errno; }
/// Sets errno.
static inline void CSCEPShim_set_errno(int value) { errno = value; }

/// open(2) with a mode: the libc function is variadic.
static inline int CSCEPShim_open(const char *path, int flags, mode_t mode) { return open(path, flags, mode); }
/// fcntl(2) with an int argument: the libc function is variadic.
static inline int CSCEPShim_fcntl(int fd, int cmd, int arg) { return fcntl(fd, cmd, arg); }

/// flock(2): Swift resolves the name `flock` to the struct of the same name.
static inline int CSCEPShim_flock(int fd, int operation) { return flock(fd, operation); }

/// signal(sig, SIG_IGN): SIG_IGN is a cast macro Swift cannot import.
static inline void CSCEPShim_signal_ignore(int sig) { signal(sig, SIG_IGN); }

/// prctl(2) with one argument: the libc function is variadic.
static inline int CSCEPShim_prctl(int option, unsigned long value) { return prctl(option, value, 0UL, 0UL, 0UL); }

/// syslog(3) is variadic: one message, never a format string of ours or the caller's.
static inline void CSCEPShim_syslog(int priority, const char *message) { syslog(priority, "%s", message); }

/// The process environment (`environ` is an extern Swift cannot see in Embedded mode).
static inline char *const *CSCEPShim_environ(void) { extern char **environ; return environ; }

/// Blocks `sig` in this thread and adds it to `set` (sigaddset may be a macro).
static inline void CSCEPShim_sigset_add(sigset_t *set, int sig) { sigaddset(set, sig); }
static inline void CSCEPShim_sigset_empty(sigset_t *set) { sigemptyset(set); }

/// argc as glibc handed it to the constructor in shim.c.
int CSCEPShim_argc(void);
/// argv as glibc handed it to the constructor in shim.c.
char *const *CSCEPShim_argv(void);

/// WIFEXITED / WEXITSTATUS / WIFSIGNALED / WTERMSIG are macros.
static inline int CSCEPShim_WIFEXITED(int status) { return WIFEXITED(status); }
static inline int CSCEPShim_WEXITSTATUS(int status) { return WEXITSTATUS(status); }
static inline int CSCEPShim_WIFSIGNALED(int status) { return WIFSIGNALED(status); }
static inline int CSCEPShim_WTERMSIG(int status) { return WTERMSIG(status); }

/// mbedtls_ssl_set_bio's callbacks take void*: forward the stock net callbacks.
static inline void CSCEPShim_ssl_set_bio_net(mbedtls_ssl_context *ssl, mbedtls_net_context *net) {
    mbedtls_ssl_set_bio(ssl, net, mbedtls_net_send, mbedtls_net_recv, NULL);
}

/// mbedtls_ctr_drbg_random has the f_rng signature; exposed as a function pointer Swift can pass on.
static inline int (*CSCEPShim_ctr_drbg_random_fn(void))(void *, unsigned char *, size_t) {
    return mbedtls_ctr_drbg_random;
}
/// mbedtls_entropy_func has the f_entropy signature.
static inline int (*CSCEPShim_entropy_func_fn(void))(void *, unsigned char *, size_t) {
    return mbedtls_entropy_func;
}

/// The pk context's RSA / EC key: mbedtls_pk_rsa and mbedtls_pk_ec are static inline with union casts.
static inline mbedtls_rsa_context *CSCEPShim_pk_rsa(mbedtls_pk_context *pk) { return mbedtls_pk_rsa(*pk); }
static inline mbedtls_ecp_keypair *CSCEPShim_pk_ec(mbedtls_pk_context *pk) { return mbedtls_pk_ec(*pk); }

/// The stdio streams are macros or externs that Embedded Swift cannot name.
static inline FILE *CSCEPShim_stderr(void) { return stderr; }
static inline FILE *CSCEPShim_stdout(void) { return stdout; }

/// Calls a dlsym'd C_GetFunctionList: dlsym returns void*, which Swift cannot call.
static inline CK_RV CSCEPShim_C_GetFunctionList(void *symbol, CK_FUNCTION_LIST_PTR_PTR list) {
    return ((CK_C_GetFunctionList)symbol)(list);
}

#ifdef __cplusplus
}
#endif

#endif
