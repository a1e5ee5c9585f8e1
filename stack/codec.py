"""Every payload the product writes to Temporal, encrypted: AES-256-GCM under a key that rotates.

Keys come from GUARANTEE_CODEC_KEYS, else the file `codec-keys` under GUARANTEE_HOME (0600, one
key written on first start): comma-separated `id:base64url-key` entries, newest first. The newest
encrypts; every key listed decrypts. A payload carries the id of the key that encrypted it in its
metadata (`encryption-key-id`), so old payloads still decrypt after a new key is put first.

Payloads that are not encrypted (histories recorded before the codec) pass through untouched.
`data_converter` is THE data converter: every client, worker and replayer of the product uses it.
"""

import base64
import binascii
import dataclasses
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from stack.secrets import new_key, secret

ENV = "GUARANTEE_CODEC_KEYS"
KEY_FILE = "codec-keys"
ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class CodecKeyError(ValueError):
    """The keys are missing or malformed; the message names the entry, never the key material."""


@dataclasses.dataclass(frozen=True)
class Key:
    id: str
    secret: bytes = dataclasses.field(repr=False)


def new_key_entry() -> str:
    """A fresh `id:key` entry; the id says when it was made."""
    return f"{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}:{new_key()}"


def parse_keys(text: str, source: str = ENV) -> tuple[Key, ...]:
    """`id:base64url-key` entries separated by commas (or lines), newest first."""
    entries = [e.strip() for e in re.split(r"[,\n]", text) if e.strip()]
    if not entries:
        raise CodecKeyError(f"{source}: no key (expected `id:base64url-key`, newest first)")
    keys: list[Key] = []
    for n, entry in enumerate(entries, 1):
        key_id, sep, encoded = entry.partition(":")
        if not sep or not _ID.fullmatch(key_id):
            raise CodecKeyError(f"{source}: entry {n} is not `id:base64url-key` (id: letters, digits, . _ -)")
        try:
            material = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise CodecKeyError(f"{source}: key {key_id} is not URL-safe base64") from None
        if len(material) != 32:
            raise CodecKeyError(f"{source}: key {key_id} is {len(material)} bytes; AES-256 needs 32")
        if any(k.id == key_id for k in keys):
            raise CodecKeyError(f"{source}: key id {key_id} is listed twice")
        keys.append(Key(key_id, material))
    return tuple(keys)


def load_keys(home: Path) -> tuple[Key, ...]:
    """GUARANTEE_CODEC_KEYS, else GUARANTEE_HOME/codec-keys (made with one new key on first use)."""
    source = ENV if os.environ.get(ENV, "").strip() else str(home / KEY_FILE)
    return parse_keys(secret(home, ENV, KEY_FILE, make=new_key_entry), source)


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM, a random 12-byte nonce before the ciphertext, metadata as Temporal's samples have it."""

    def __init__(self, keys: Sequence[Key]):
        if not keys:
            raise CodecKeyError("the payload codec needs at least one key")
        self.key_id = keys[0].id
        self._ciphers = {k.id: AESGCM(k.secret) for k in keys}

    async def encode(self, payloads: Iterable[Payload]) -> list[Payload]:
        cipher = self._ciphers[self.key_id]
        encoded = []
        for p in payloads:
            nonce = os.urandom(NONCE_BYTES)
            data = nonce + cipher.encrypt(nonce, p.SerializeToString(), None)
            encoded.append(Payload(metadata={"encoding": ENCODING, KEY_ID: self.key_id.encode()}, data=data))
        return encoded

    async def decode(self, payloads: Iterable[Payload]) -> list[Payload]:
        decoded = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                decoded.append(p)  # written before the codec, or by something else: left as it is
                continue
            key_id = p.metadata.get(KEY_ID, b"").decode(errors="replace")
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise ValueError(f"a payload is encrypted with key {key_id!r}, which is not among the codec keys")
            try:
                plain = cipher.decrypt(p.data[:NONCE_BYTES], p.data[NONCE_BYTES:], None)
            except InvalidTag:
                raise ValueError(f"a payload does not decrypt with key {key_id!r}: another key has that id") from None
            decoded.append(Payload.FromString(plain))
        return decoded


def data_converter(keys: Sequence[Key]) -> DataConverter:
    """Pydantic payloads, encrypted; failure messages and stack traces are moved into an encrypted payload too."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
