"""A TCP listener whose connects never complete, for connect-timeout tests.

Its accept queue (backlog 0) is filled by its own connections and never drained, so the kernel
drops every further SYN and a client's connect hangs. Prints "PORT n"; exits when stdin closes.
"""
import socket
import sys

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.bind(("127.0.0.1", 0))
listener.listen(0)
port = listener.getsockname()[1]
fillers = []
for _ in range(4):
    filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    filler.setblocking(False)
    try:
        filler.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    fillers.append(filler)
print(f"PORT {port}", flush=True)
sys.stdin.read()
