"""Password hashing off the event loop, with bounded concurrency (scrypt takes 128 MiB each)."""

from __future__ import annotations

import asyncio
import secrets

from dialtone.crypto.accounts import (
    PasswordParams,
    hash_password,
    password_needs_rehash,
    verify_password,
)


class PasswordHasher:
    """Hashes and verifies passwords in worker threads, at most `max_concurrent` at once.

    Args:
        params: scrypt parameters (`PasswordParams.DEFAULT` in production).
        max_concurrent: Hashes allowed at the same time (each needs `128 * r * N` bytes).
    """

    def __init__(self, params: PasswordParams, *, max_concurrent: int = 2) -> None:
        self.params = params
        self._slots = asyncio.Semaphore(max_concurrent)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        """Return the encoded hash of `password`.

        Args:
            password: The password.

        Returns:
            The encoded hash (parameters and salt included).
        """
        async with self._slots:
            return await asyncio.to_thread(hash_password, password, params=self.params)

    async def verify(self, password: str, encoded: str | None) -> bool:
        """Check a password against a stored hash in constant time.

        Args:
            password: The password presented.
            encoded: The stored hash, or None when the user does not exist (a dummy hash is
                checked instead, so "no such user" takes as long as "wrong password").

        Returns:
            Whether the password matches (always False when `encoded` is None).
        """
        if encoded is None:
            if self._dummy is None:
                # Any valid hash will do: only the time spent checking it matters.
                self._dummy = await self.hash(secrets.token_urlsafe(16))
            async with self._slots:
                await asyncio.to_thread(verify_password, password, self._dummy)
            return False
        async with self._slots:
            return await asyncio.to_thread(verify_password, password, encoded)

    def needs_rehash(self, encoded: str) -> bool:
        """Return whether a stored hash uses other parameters than the current ones.

        Args:
            encoded: The stored hash.

        Returns:
            True when it should be replaced at the next successful login.
        """
        return password_needs_rehash(encoded, params=self.params)


def params_for(preset: str) -> PasswordParams:
    """Return the scrypt parameters of a configuration preset.

    Args:
        preset: `default` or `testing`.

    Returns:
        The parameters.
    """
    return PasswordParams.TESTING if preset == "testing" else PasswordParams.DEFAULT
