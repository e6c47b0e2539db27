/*
 * bcryptprimitives.dll for Wine 8, which lacks it.
 *
 * Rust's standard library on Windows asks ProcessPrng (in bcryptprimitives.dll,
 * present on every Windows since 10) for its random numbers; Debian's Wine 8
 * has no such DLL, so acebridge.exe would not start under it. This stand-in,
 * built with mingw and put beside the .exe, answers with RtlGenRandom
 * (advapi32's SystemFunction036), which Wine has. It is used only for testing
 * under Wine and is never shipped: real Windows has the DLL.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
