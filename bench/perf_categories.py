#!/usr/bin/env python3
"""bench/perf_categories.py: sum `perf report --no-children --sort dso,sym
--stdio -g none` lines (stdin) into the categories of the issue 17 storm
breakdown: kernel (TCP accept/close, epoll, scheduler, other), crypto, TLS
library framing, certificate decoding, rendering, SQLite, allocation, our
own code.  Prints percent of all samples per category, largest first."""
import re
import sys

LINE = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*\S)\s*$")
CRYPTO_LIBS = ("libnettle", "libhogweed", "libgmp", "libgcrypt")
CERT = re.compile(r"(^|_)(d2i|i2d|asn1|ASN1|x509|X509|OSSL_DECODER|decoder|PEM|pem|der_|DER|"
                  r"tasn1|_asn1|crl|CRL|OBJ_|ossl_x509|X509V3|v3_|name_|a2i|c2i|ec_GFp.*oct|point2oct|oct2point)", re.I)
CRYPTO = re.compile(r"(ecp_nistz256|nistp256|x25519|ossl_ec|ECDSA|ecdsa|ECDH|ecdh|bn_|BN_|sha256|sha512|SHA|aes|AES|"
                    r"gcm|GCM|chacha|poly1305|EVP_|evp_|HKDF|hkdf|HMAC|hmac|rand|RAND|drbg|ec_|EC_|curve|mul_mont|"
                    r"sqr_mont|__ecp|ecp_|P256|p256)")
MALLOC = re.compile(r"^(malloc|free|calloc|realloc|cfree|_int_malloc|_int_free|_int_realloc|malloc_consolidate|"
                    r"tcache|unlink_chunk|__libc_malloc|__libc_free|__libc_calloc|__libc_realloc|arena|sysmalloc|"
                    r"_int_free_merge_chunk|_int_free_create_chunk|_int_free_maybe_consolidate|CRYPTO_malloc|CRYPTO_free|"
                    r"CRYPTO_zalloc|CRYPTO_clear_free|gnutls_free|_gnutls_free|ossl_malloc|ossl_free)")


def kernel(sym):
    if re.search(r"tcp|inet|sock|accept|skb|ip_|ipv4|__sys_|net_|netif|loopback|dev_|nf_|__dev|sk_|release_sock|lock_sock|"
                 r"__x64_sys_shutdown|__x64_sys_accept|__x64_sys_close|__fput|do_softirq|napi|rcv", sym):
        return "kernel: TCP/socket (accept, I/O, close, loopback)"
    if re.search(r"epoll|ep_|poll", sym):
        return "kernel: epoll"
    if re.search(r"sched|switch_to|context_switch|pick_next|enqueue|dequeue|update_curr|update_load|idle|wake|futex|"
                 r"try_to_wake|ttwu|select_task", sym):
        return "kernel: scheduler, wakeups, futex"
    if re.search(r"page|mm_|alloc_pages|clear_page|mmap|munmap|do_anonymous|handle_mm|exc_page|memcg|kmem|kmalloc|"
                 r"slab|__kmalloc|kfree|memset|memcpy|copy_", sym):
        return "kernel: memory (pages, slab, copies)"
    if re.search(r"syscall|entry_SYSCALL|do_syscall|sysret|_raw_spin|read|write|vfs|fget|fdget", sym):
        return "kernel: syscall entry, files, locks"
    return "kernel: other"


def category(dso, kind, sym):
    if kind == "k" or dso.startswith("[kernel"):
        return kernel(sym)
    if dso.startswith(CRYPTO_LIBS):
        return "crypto (nettle/hogweed/gmp)"
    if dso.startswith("libtasn1"):
        return "certificate decoding (asn1, X509, CRL)"
    if MALLOC.search(sym):
        return "allocation (malloc/free)"
    if dso.startswith("libcrypto"):
        if CERT.search(sym):
            return "certificate decoding (asn1, X509, CRL)"
        if CRYPTO.search(sym):
            return "crypto (libcrypto)"
        return "libcrypto: other (ERR, locks, properties, providers)"
    if dso.startswith("libssl"):
        return "TLS library framing (libssl)"
    if dso.startswith("libgnutls"):
        if re.search(r"x509|X509|crt|crl|asn1|dn_|pkix|_gnutls_x509|verify", sym):
            return "certificate decoding (asn1, X509, CRL)"
        return "TLS library framing (libgnutls)"
    if dso.startswith("libsqlite3"):
        return "SQLite"
    if dso.startswith("libevent"):
        return "libevent"
    if dso.startswith("libc.so") or dso.startswith("ld-linux") or dso.startswith("libpthread"):
        return "libc: other (memcpy, strings, locks)"
    if dso in ("sprov",) or dso.startswith("sprov"):
        if re.search(r"profile|render|xml|sp_prof", sym):
            return "rendering (src/profile, render.c)"
        return "sprov: own code"
    if dso.startswith("nginx"):
        return "nginx: own code"
    if dso.startswith("libpcre") or dso.startswith("libz"):
        return "nginx: pcre/zlib"
    return "other: " + dso


SKIP = re.compile(r"^(0x[0-9a-f]+|[0-9a-f]{16}|main|_start|__libc_start|start_thread|clone3?|__clone|"
                  r"do_syscall_64|entry_SYSCALL|x64_sys_call|syscall_exit|event_base_loop|event_process_active|"
                  r"sp_cmd_serve|sp_serve_run|sp_main|run_command|ngx_master_process_cycle|ngx_worker_process_cycle|"
                  r"ngx_spawn_process|ngx_start_worker_processes|ngx_process_events_and_timers|ngx_epoll_process_events|"
                  r"asm_|__raw_callee|pvm_|irqentry|sysvec|__sysvec|ret_from_fork)")


def children(limit):
    """Inclusive share (callees counted) of the named functions, from
    `perf report --children --sort sym --stdio -g none`: which entry points
    (X509_verify_cert, d2i, OSSL_DECODER, sqlite3_step, accept...) the time is under."""
    row = re.compile(r"^\s*([\d.]+)%\s+([\d.]+)%\s+\[(.)\]\s+(.*\S)\s*$")
    n = 0
    for line in sys.stdin:
        m = row.match(line)
        if not m or SKIP.search(m.group(4)):
            continue
        print("%6s%% incl %6s%% self  %s %s" % (m.group(1), m.group(2), "[k]" if m.group(3) == "k" else "   ", m.group(4)))
        n += 1
        if n >= limit:
            break


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--children":
        children(int(sys.argv[2]) if len(sys.argv) > 2 else 60)
        return
    cats = {}
    total = 0.0
    for line in sys.stdin:
        m = LINE.match(line)
        if not m:
            continue
        pct, dso, kind, sym = float(m.group(1)), m.group(2), m.group(3), m.group(4)
        c = category(dso, kind, sym)
        cats[c] = cats.get(c, 0.0) + pct
        total += pct
    for c, p in sorted(cats.items(), key=lambda kv: -kv[1]):
        print("%6.2f%%  %s" % (p, c))
    print("%6.2f%%  (total of the listed samples)" % total)


if __name__ == "__main__":
    main()
