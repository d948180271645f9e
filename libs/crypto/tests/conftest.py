"""Hypothesis settings for this package's tests: no per-example deadline, since signing and
scrypt timings vary on a shared two-core machine and a slow example is not a wrong one."""

from hypothesis import settings

settings.register_profile("dialtone-crypto", deadline=None)
settings.load_profile("dialtone-crypto")
