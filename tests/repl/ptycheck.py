"""Shared by the terminal tests: whether pseudo-terminals can be opened.

They exist on any ordinary machine; a bare chroot without /dev/pts has none,
and then the terminal half of a test file is skipped, said loudly, rather
than failed."""
import os


def have_pty():
    try:
        a, b = os.openpty()
        os.close(a)
        os.close(b)
        return True
    except OSError as e:
        print(f"skip: no pseudo-terminals here ({e}); terminal tests skipped")
        return False
