"""Encryption of personal data at rest (household names, phone numbers)."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


class PersonalDataCipher:
    """Fernet (AES-128-CBC + HMAC) with a key derived from the configured DATA_KEY."""

    def __init__(self, key_material: str):
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"secretary-projects", info=b"personal-data").derive(
            key_material.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def encrypt(self, text: str) -> str:
        """Ciphertext (ASCII) of a string."""
        return self._fernet.encrypt(text.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plain text; raises ValueError when the key does not fit."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except InvalidToken as exc:
            raise ValueError("personal data cannot be decrypted with the configured DATA_KEY") from exc


def cipher() -> PersonalDataCipher:
    """The current app's cipher."""
    return current_app.extensions["cipher"]
