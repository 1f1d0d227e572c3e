/* fuzz_resolver_common.h — a getaddrinfo() that never leaves the process,
 * for the fuzz targets whose parsers resolve host names (addr_parse(),
 * and through it config_load()).
 *
 * Why: a fuzzer tries millions of host names. Real lookups would send
 * them to whatever resolver the machine has (there is no network here,
 * and where there is, a fuzzer must not query it), take milliseconds to
 * seconds each, and answer differently from run to run, so no crash
 * would reproduce. Defining getaddrinfo() and freeaddrinfo() in the
 * executable interposes them: src/addr.c is linked statically and binds
 * to these, ahead of libc's and of the weak interceptor AddressSanitizer
 * puts under the same name. They answer numeric hosts as glibc does and
 * a fixed table of names (fuzz_resolver_common.c), and nothing else.
 *
 * A target links this file in by calling fuzz_resolver_require() (an
 * archive member is only pulled in for a symbol something needs). */
#ifndef NETPOLLD_FUZZ_RESOLVER_COMMON_H
#define NETPOLLD_FUZZ_RESOLVER_COMMON_H

/* Host names the table knows: each resolves to one fixed address. */
#define FUZZ_RESOLVER_NAME4 "localhost"      /* 127.0.0.1 */
#define FUZZ_RESOLVER_NAME6 "ip6-localhost"  /* ::1 */

/* Aborts unless addr_parse() really goes through the getaddrinfo()
 * defined here: a link that bound it elsewhere would do real DNS. */
void fuzz_resolver_require(void);

#endif
