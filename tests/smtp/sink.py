"""A real SMTP server on loopback for Gerbang's tests: aiosmtpd, storing every message it
receives into a Maildir (DIR/new/). Prints `ready` once listening and stops when its standard
input closes, so it never outlives the test run that started it.

    python3 tests/smtp/sink.py PORT DIR
"""
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Mailbox(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
