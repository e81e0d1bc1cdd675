"""Stop a TCP listener from completing new handshakes without touching its open connections.

Closing a listening socket resets every connection whose handshake the kernel completed
but the server has not yet accepted, and a client that connected a moment before
the close has already sent its request on it. `refuse_new_connections` attaches a
classic BPF socket filter that drops segments with SYN set and ACK clear: new
connection attempts get no answer (the client retries, then is refused once the socket
is closed), handshakes already under way complete into the backlog, and established
connections (which inherit the filter) never carry such a segment. Linux only;
elsewhere it does nothing and says so.
"""

from __future__ import annotations

import ctypes
import socket
import struct
import sys

SO_ATTACH_FILTER = 26  # <asm-generic/socket.h>; not exported by Python's socket module

# struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}. A TCP socket's filter sees the
# segment from its TCP header, whose byte 13 holds the flags.
_SYN_DROP = (
    (0x30, 0, 0, 13),  # ldb [13]
    (0x54, 0, 0, 0x12),  # and #(SYN|ACK)
    (0x15, 0, 1, 0x02),  # jeq #SYN, next, skip
    (0x06, 0, 0, 0),  # ret #0: drop
    (0x06, 0, 0, 0xFFFFFFFF),  # ret #-1: keep the whole segment
)


def refuse_new_connections(listener: socket.socket) -> bool:
    """Drop new SYNs on `listener`; True if the filter is in place."""
    if not sys.platform.startswith("linux") or listener.type != socket.SOCK_STREAM:
        return False
    code = b"".join(struct.pack("HBBI", *insn) for insn in _SYN_DROP)
    buffer = ctypes.create_string_buffer(code, len(code))
    prog = struct.pack("HL", len(_SYN_DROP), ctypes.addressof(buffer))  # struct sock_fprog
    try:
        listener.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, prog)
    except OSError:
        return False
    return True
