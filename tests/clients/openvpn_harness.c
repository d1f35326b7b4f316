/*
 * Drives an OpenVPN authentication plugin the way OpenVPN's `plugin` directive does, without a VPN:
 * dlopen the plugin, openvpn_plugin_open_v1 with argv = { plugin path, config file }, then one
 * openvpn_plugin_func_v1(OPENVPN_PLUGIN_AUTH_USER_PASS_VERIFY) per login, with the credentials
 * in envp as `username=` / `password=` (plus the connection variables OpenVPN sets), and finally
 * openvpn_plugin_close_v1. One plugin instance serves every login, as in a running server.
 *
 * Usage: openvpn_harness PLUGIN.so CONFIG < logins
 * Each stdin line is `USERNAME PASSWORD` (the password is the rest of the line, spaces included).
 * Prints `USERNAME: accepted` or `USERNAME: rejected` per line.
 * Exit status: 0 when every login was accepted, 1 when one was rejected, 2 on a setup error.
 *
 * Build: gcc -Wall -Wextra -o openvpn_harness openvpn_harness.c -ldl
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<openvpn/openvpn-plugin.h>)
/* Defining OPENVPN_PLUGIN_H makes the header declare the function-pointer types OpenVPN uses. */
#define OPENVPN_PLUGIN_H
#include <openvpn/openvpn-plugin.h>
#define HAVE_OPENVPN_PLUGIN_H 1
#endif
#endif

#ifndef HAVE_OPENVPN_PLUGIN_H
/* The values of OpenVPN's stable plugin ABI (openvpn-plugin.h), for machines without the header. */
#define OPENVPN_PLUGIN_AUTH_USER_PASS_VERIFY 5
#define OPENVPN_PLUGIN_MASK(x) (1 << (x))
#define OPENVPN_PLUGIN_FUNC_SUCCESS 0
typedef void *openvpn_plugin_handle_t;
typedef openvpn_plugin_handle_t (*openvpn_plugin_open_v1)(unsigned int *type_mask, const char *argv[],
                                                          const char *envp[]);
typedef int (*openvpn_plugin_func_v1)(openvpn_plugin_handle_t handle, const int type, const char *argv[],
                                      const char *envp[]);
typedef void (*openvpn_plugin_close_v1)(openvpn_plugin_handle_t handle);
#endif

static char *env_pair(const char *name, const char *value) {
    size_t len = strlen(name) + strlen(value) + 2;
    char *s = malloc(len);
    if (s != NULL) {
        snprintf(s, len, "%s=%s", name, value);
    }
    return s;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s PLUGIN.so CONFIG < logins (one `USERNAME PASSWORD` per line)\n", argv[0]);
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen %s: %s\n", argv[1], dlerror());
        return 2;
    }
    /* dlsym returns void *; the union avoids the object-to-function pointer cast warning. */
    union { void *p; openvpn_plugin_open_v1 f; } open_fn = { dlsym(lib, "openvpn_plugin_open_v1") };
    union { void *p; openvpn_plugin_func_v1 f; } func_fn = { dlsym(lib, "openvpn_plugin_func_v1") };
    union { void *p; openvpn_plugin_close_v1 f; } close_fn = { dlsym(lib, "openvpn_plugin_close_v1") };
    if (open_fn.p == NULL || func_fn.p == NULL) {
        fprintf(stderr, "%s does not export openvpn_plugin_open_v1/openvpn_plugin_func_v1\n", argv[1]);
        return 2;
    }

    const char *plugin_argv[] = { argv[1], argv[2], NULL };
    const char *open_envp[] = { "verb=3", "daemon=0", NULL };
    unsigned int mask = 0;
    openvpn_plugin_handle_t handle = open_fn.f(&mask, plugin_argv, open_envp);
    if (handle == NULL) {
        fprintf(stderr, "openvpn_plugin_open_v1 failed (see the plugin's messages above)\n");
        return 2;
    }
    if ((mask & OPENVPN_PLUGIN_MASK(OPENVPN_PLUGIN_AUTH_USER_PASS_VERIFY)) == 0) {
        fprintf(stderr, "the plugin does not ask for OPENVPN_PLUGIN_AUTH_USER_PASS_VERIFY\n");
        return 2;
    }

    int status = 0;
    int logins = 0;
    char line[4096];
    while (fgets(line, sizeof line, stdin) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        char *sep = strchr(line, ' ');
        if (line[0] == '\0' || sep == NULL) {
            continue;
        }
        *sep = '\0';
        const char *user = line;
        const char *password = sep + 1;
        char *u = env_pair("username", user);
        char *p = env_pair("password", password);
        char *cn = env_pair("common_name", user);
        if (u == NULL || p == NULL || cn == NULL) {
            fprintf(stderr, "out of memory\n");
            return 2;
        }
        const char *envp[] = { u, p, cn, "untrusted_ip=127.0.0.1", "untrusted_port=50000", "verb=3", NULL };
        int rc = func_fn.f(handle, OPENVPN_PLUGIN_AUTH_USER_PASS_VERIFY, plugin_argv, envp);
        printf("%s: %s\n", user, rc == OPENVPN_PLUGIN_FUNC_SUCCESS ? "accepted" : "rejected");
        fflush(stdout);
        if (rc != OPENVPN_PLUGIN_FUNC_SUCCESS) {
            status = 1;
        }
        logins++;
        free(u);
        free(p);
        free(cn);
    }
    if (close_fn.p != NULL) {
        close_fn.f(handle);
    }
    dlclose(lib);
    if (logins == 0) {
        fprintf(stderr, "no login on stdin\n");
        return 2;
    }
    return status;
}
