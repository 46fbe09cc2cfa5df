import pytest

from doodle import PaintConfig
from doodle.config import default_of, help_of


@pytest.mark.parametrize("changes, message", [
    ({"matcher": "fast"}, "--matcher"), ({"search": "some"}, "--search"), ({"precision": "fp16"}, "--precision"),
    ({"rematch_every": 0}, "--rematch-every"), ({"tolerance": -0.1}, "--tolerance"), ({"tolerance": 1.0}, "--tolerance"),
    ({"iterations": 0}, "--iterations"),
])
def test_bad_values_name_their_flag(changes, message):
    with pytest.raises(ValueError, match=message):
        PaintConfig(**changes)


def test_every_field_has_a_default_and_help():
    for name in ("matcher", "search", "rematch_every", "precision", "tolerance"):
        assert default_of(name) is not None and help_of(name)
    assert PaintConfig().with_overrides(tolerance=None, rematch_every=2).rematch_every == 2
