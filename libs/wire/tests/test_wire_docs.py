"""docs/protocol-wire.md is current: its reference section and its examples come from the code.

The document lives in the workspace's docs/, outside this package, so Pants' hermetic test run
(which sees only the package) leaves this module out (see BUILD); `make test` runs it.
"""

import json
from pathlib import Path

from dialtone.wire import Codec, reference

CODEC = Codec()
DOC = Path(__file__).parents[3] / "docs" / "protocol-wire.md"
STORED = json.loads((Path(__file__).parent / "data" / "wire_examples.json").read_text())


def test_doc_reference_is_current() -> None:
    """docs/protocol-wire.md embeds exactly the reference generated from the types."""
    doc = DOC.read_text()
    assert reference.DOC_BEGIN in doc
    assert reference.splice_into(doc, CODEC) == doc, (
        f"regenerate: python -m dialtone.wire.reference --update {DOC}"
    )


def test_doc_examples_are_valid_frames() -> None:
    """Every JSON block in the doc is a stored example (none is hand-written, none is stale)."""
    blocks = DOC.read_text().split("```json\n")[1:]
    assert len(blocks) > 50
    for block in blocks:
        text = block.split("\n```", 1)[0]
        assert json.loads(text)
        assert any(text == v for s in STORED.values() for v in s.values())
