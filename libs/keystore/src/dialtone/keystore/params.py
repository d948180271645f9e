"""scrypt cost parameters: validated, recorded in every file, with a tuned default."""

from __future__ import annotations

from dataclasses import dataclass

#: Largest scrypt memory (128 * r * N bytes) accepted, when writing or when reading a file. A file
#: is read before it is authenticated, so without this bound a forged header could make the reader
#: allocate arbitrary memory.
MAX_MEMORY_BYTES = 1 << 30

#: Largest total work N * r * p accepted (about 100 times the default, roughly half a minute here),
#: for the same reason: a forged header must not make unlocking run for hours.
MAX_WORK = 1 << 26

_MAX_LOG2_N = 24
_MAX_R = 1024
_MAX_P = 16


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """scrypt cost parameters (RFC 7914): N = 2**log2_n, block size r, parallelism p.

    Args:
        log2_n: base-2 logarithm of the CPU/memory cost N (1..24).
        r: block size (1..1024).
        p: parallelism (1..16).

    Raises:
        TypeError: a parameter is not an int.
        ValueError: a parameter is out of range, breaks RFC 7914's N < 2**(16 r) rule, or the
            combination needs more than ``MAX_MEMORY_BYTES`` of memory or ``MAX_WORK`` of work.
    """

    log2_n: int
    r: int
    p: int

    def __post_init__(self) -> None:
        for name in ("log2_n", "r", "p"):
            value = getattr(self, name)
            # bool is an int subclass; True as a cost parameter is always a mistake.
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"scrypt {name} must be an int, not {type(value).__name__}")
        if not 1 <= self.log2_n <= _MAX_LOG2_N:
            raise ValueError(f"scrypt log2_n must be in 1..{_MAX_LOG2_N}, got {self.log2_n}")
        if not 1 <= self.r <= _MAX_R:
            raise ValueError(f"scrypt r must be in 1..{_MAX_R}, got {self.r}")
        if not 1 <= self.p <= _MAX_P:
            raise ValueError(f"scrypt p must be in 1..{_MAX_P}, got {self.p}")
        if self.log2_n >= 16 * self.r:
            raise ValueError("scrypt needs N < 2**(16 * r) (RFC 7914)")
        if self.memory_bytes > MAX_MEMORY_BYTES:
            raise ValueError(f"scrypt parameters need {self.memory_bytes} bytes of memory")
        if self.n * self.r * self.p > MAX_WORK:
            raise ValueError("scrypt parameters exceed the work limit N * r * p <= 2**26")

    @property
    def n(self) -> int:
        """The CPU/memory cost N = 2**log2_n."""
        return 1 << self.log2_n

    @property
    def memory_bytes(self) -> int:
        """The memory scrypt needs for these parameters: 128 * r * N bytes."""
        return 128 * self.r * self.n


#: Default parameters: 80 MiB of memory, about 0.28 s to unlock on the reference machine (2 cores,
#: see docs/perf-keystore.md), inside the 0.2-0.5 s target. Tests pass cheaper ones explicitly.
DEFAULT_PARAMS = ScryptParams(log2_n=16, r=10, p=1)
