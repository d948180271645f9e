"""The example encodings (data file and docs) are exactly what the library writes and reads."""

import json
from pathlib import Path

import pytest

from dialtone.wire import (
    IPC_COMMAND_TAGS,
    IPC_EVENT_TAGS,
    WS_CLIENT_TAGS,
    WS_SERVER_TAGS,
    Codec,
    http,
    reference,
)

CODEC = Codec()
DATA = Path(__file__).parent / "data" / "wire_examples.json"
STORED = json.loads(DATA.read_text())
REGENERATE = "regenerate: python -m dialtone.wire.reference --examples > " + str(DATA)


def test_examples_cover_every_tag_and_body() -> None:
    """One example per tag of each direction and per HTTP type."""
    assert set(STORED["ws_client"]) == set(WS_CLIENT_TAGS)
    assert set(STORED["ws_server"]) == set(WS_SERVER_TAGS)
    assert set(STORED["ipc_command"]) == set(IPC_COMMAND_TAGS)
    assert set(STORED["ipc_event"]) == set(IPC_EVENT_TAGS)
    assert set(STORED["http"]) == {c.__name__ for c in http.HTTP_TYPES}


def test_examples_are_what_the_library_writes() -> None:
    """Encoding is deterministic and unchanged: the stored examples equal a fresh encoding."""
    assert reference.examples(CODEC) == STORED, REGENERATE


@pytest.mark.parametrize(
    ("surface", "decode"),
    [
        ("ws_client", CODEC.decode_ws_client),
        ("ws_server", CODEC.decode_ws_server),
        ("ipc_command", CODEC.decode_ipc_command),
        ("ipc_event", CODEC.decode_ipc_event),
    ],
)
def test_examples_decode_and_reencode_byte_for_byte(surface: str, decode: object) -> None:
    """Each stored frame decodes to an object of its tag that encodes back to the same bytes."""
    assert callable(decode)
    for tag, text in STORED[surface].items():
        value = decode(text)
        assert value.type == tag
        encoded = CODEC.encode_ws(value) if surface.startswith("ws") else CODEC.encode_ipc(value)
        assert (encoded if isinstance(encoded, str) else encoded.decode().rstrip("\n")) == text


def test_http_examples_decode_and_reencode() -> None:
    """Each stored HTTP body decodes as its type and encodes back to the same bytes."""
    by_name = {c.__name__: c for c in http.HTTP_TYPES}
    for name, text in STORED["http"].items():
        assert CODEC.encode_http(CODEC.decode_http(by_name[name], text)).decode() == text


def test_readme_example_runs() -> None:
    """The README's example is real code that runs as written."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    snippet = readme.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(compile(snippet, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["line"] == b'{"type":"voice.mute"}\n'
