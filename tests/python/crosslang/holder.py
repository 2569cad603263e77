"""The Python member of the cross-language test; see cbholder.c.

    holder.py NAME POOL PRIORITY

Enqueues one hold at PRIORITY, prints "queued N", waits without a limit
and prints "held", then releases on the line "release" or at EOF and
prints "released".  A failure prints "error MESSAGE" on stderr, exit 1.
"""

import sys

import capbroker


def main() -> int:
    if len(sys.argv) != 4:
        print("usage: holder.py NAME POOL PRIORITY", file=sys.stderr)
        return 64
    name, pool_name, priority = sys.argv[1], sys.argv[2], int(sys.argv[3])
    try:
        with capbroker.Client(name) as client:
            waiter = client.pool(pool_name).enqueue(priority=priority)
            print(f"queued {waiter.position}", flush=True)
            hold = waiter.wait(timeout=None)
            print("held", flush=True)
            for line in sys.stdin:
                if line == "release\n":
                    break
            hold.release()
            print("released", flush=True)
    except capbroker.CapbrokerError as e:
        print(f"error {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
