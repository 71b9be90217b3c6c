#include "CSCEPShim.h"

static int captured_argc;
static char *const *captured_argv;

// glibc calls ELF constructors with (argc, argv, envp); Embedded Swift has no CommandLine.
__attribute__((constructor)) static void CSCEPShim_capture_arguments(int argc, char **argv, char **envp) {
    (void)envp;
    captured_argc = argc;
    captured_argv = argv;
}

int CSCEPShim_argc(void) { return captured_argc; }
char *const *CSCEPShim_argv(void) { return captured_argv; }
