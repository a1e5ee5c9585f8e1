"""The tests' payload key: every test client, worker and replayer encrypts with it.

Fixed, so the histories recorded through the codec (tests/histories/codec/) replay. Anyone who reads
this file knows it: it is for tests only, never a key an installation uses.
"""

from stack.codec import data_converter, parse_keys

TEST_CODEC_KEYS = "tests-1:Z3VhcmFudGVlLXBheW91dHMtdGVzdC1rZXktMzJieXQ"
CONVERTER = data_converter(parse_keys(TEST_CODEC_KEYS, "TEST_CODEC_KEYS"))
