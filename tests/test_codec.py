"""The payload codec: AES-256-GCM under rotating keys, from the environment or a 0600 file."""

import re
import stat

import pytest
from temporalio.api.common.v1 import Payload

from stack.codec import (
    ENCODING,
    ENV,
    KEY_FILE,
    KEY_ID,
    CodecKeyError,
    EncryptionCodec,
    data_converter,
    load_keys,
    new_key_entry,
    parse_keys,
)

OLD, NEW = new_key_entry(), new_key_entry()


async def test_a_value_goes_through_encrypted_and_comes_back():
    converter = data_converter(parse_keys(NEW))
    [payload] = await converter.encode(["customer cus_4242 says the pro broke the sink"])
    assert payload.metadata["encoding"] == ENCODING
    assert payload.metadata[KEY_ID] == NEW.split(":")[0].encode()
    assert b"cus_4242" not in payload.SerializeToString()
    assert await converter.decode([payload]) == ["customer cus_4242 says the pro broke the sink"]


async def test_the_newest_key_encrypts_and_every_listed_key_decrypts():
    before = EncryptionCodec(parse_keys(OLD))
    after = EncryptionCodec(parse_keys(f"{NEW},{OLD}"))
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"acct_1"')
    [old] = await before.encode([plain])
    [new] = await after.encode([plain])
    assert new.metadata[KEY_ID] == NEW.split(":")[0].encode()
    assert await after.decode([old, new]) == [plain, plain]
    with pytest.raises(ValueError, match="not among the codec keys"):
        await before.decode([new])


async def test_payloads_written_before_the_codec_pass_through():
    codec = EncryptionCodec(parse_keys(NEW))
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"customer_id": "cus_1"}')
    assert await codec.decode([plain]) == [plain]


async def test_a_payload_changed_in_history_or_under_another_key_with_the_same_id_is_refused():
    codec = EncryptionCodec(parse_keys(NEW))
    [payload] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"1")])
    tampered = Payload(metadata=payload.metadata, data=payload.data[:-1] + bytes([payload.data[-1] ^ 1]))
    with pytest.raises(ValueError, match="does not decrypt"):
        await codec.decode([tampered])
    impostor = EncryptionCodec(parse_keys(f"{NEW.split(':')[0]}:{OLD.split(':')[1]}"))
    with pytest.raises(ValueError, match="does not decrypt"):
        await impostor.decode([payload])


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no key"),
        ("justakey", "entry 1 is not `id:base64url-key`"),
        (f"{NEW},bad id:{NEW.split(':')[1]}", "entry 2 is not"),
        ("k1:c2hvcnQ", "key k1 is 5 bytes; AES-256 needs 32"),
        ("k1:***", "key k1 is not URL-safe base64"),
        (f"{NEW},{NEW}", "listed twice"),
    ],
)
def test_malformed_keys_are_refused_without_showing_them(text, message):
    with pytest.raises(CodecKeyError, match="^GUARANTEE_CODEC_KEYS: .*" + re.escape(message)) as info:
        parse_keys(text)
    for entry in text.split(","):
        secret = entry.partition(":")[2]
        assert len(secret) < 8 or secret not in str(info.value)


def test_first_use_writes_one_key_to_a_0600_file_and_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    home = tmp_path / "home"
    [key] = load_keys(home)
    assert load_keys(home) == (key,), "every process of the installation reads the same key"
    assert stat.S_IMODE((home / KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    (home / KEY_FILE).write_text(f"{NEW}\n{(home / KEY_FILE).read_text()}")
    assert [k.id for k in load_keys(home)] == [NEW.split(":")[0], key.id], "rotated in the file: the new key first"
    monkeypatch.setenv(ENV, f"{OLD}, {NEW}")
    assert [k.id for k in load_keys(home)] == [OLD.split(":")[0], NEW.split(":")[0]]
    monkeypatch.setenv(ENV, "k1:c2hvcnQ")
    with pytest.raises(CodecKeyError, match="^GUARANTEE_CODEC_KEYS: key k1"):
        load_keys(home)
    monkeypatch.delenv(ENV)
    (home / KEY_FILE).write_text("k1:c2hvcnQ\n")
    with pytest.raises(CodecKeyError, match=f"^{home / KEY_FILE}: key k1"):
        load_keys(home)
