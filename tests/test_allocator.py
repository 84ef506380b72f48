"""keep_freed_memory: a 64 MB block comes from the heap, not from mmap, unless the user opts out."""

import os
import platform
import subprocess
import sys

import pytest

PROBE = """
import ctypes
from laserrec.allocator import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype, libc.malloc.restype = MallInfo2, ctypes.c_void_p
tuned = keep_freed_memory()
before = libc.mallinfo2().hblkhd
block = libc.malloc(64 << 20)
print(tuned, libc.mallinfo2().hblkhd - before >= 64 << 20)
"""

glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not glibc, reason="mallopt and mallinfo2 are glibc's")
@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, "True False"),  # thresholds raised: the block is heap memory
        ({"LASERREC_MALLOC": "default"}, "False True"),  # glibc's defaults: mmapped
        ({"MALLOC_MMAP_THRESHOLD_": "1048576"}, "False True"),  # the user's shell setting wins
    ],
)
def test_keep_freed_memory_serves_large_blocks_from_the_heap_unless_opted_out(env, expected):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "LASERREC_MALLOC"))}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env={**base, **env}, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == expected.split()
