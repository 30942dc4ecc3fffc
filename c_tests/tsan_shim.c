/* ThreadSanitizer entry points that the nightly Rust compiler's LLVM emits
 * for copies in a sanitized libponynet, and that GCC 12's libtsan (used to
 * link the C tests) predates. Each forwards to the libc function, which
 * libtsan intercepts and checks: the same accesses are checked either way. */
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

void* __tsan_memcpy(void* dst, const void* src, size_t n);
void* __tsan_memmove(void* dst, const void* src, size_t n);
void* __tsan_memset(void* dst, int c, size_t n);

void* __tsan_memcpy(void* dst, const void* src, size_t n) { return memcpy(dst, src, n); }
void* __tsan_memmove(void* dst, const void* src, size_t n) { return memmove(dst, src, n); }
void* __tsan_memset(void* dst, int c, size_t n) { return memset(dst, c, n); }

#ifdef __cplusplus
}
#endif
