"""What the CLI prints is text: file names cannot drive the terminal, forge lines or be read as markup."""

import pytest
from typer.testing import CliRunner

from doodle.cli import app, printable

FAST = ["--phases", "1", "--iterations", "3", "--quiet"]
HOSTILE = "a\x1b[31mred\nfake error"  # a colour escape and a newline that would forge a line


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("text, shown", [
    ("plain/path [ok].png", "plain/path [ok].png"),
    ("a\x1b[31mred\nfake error.jpg", "a\\x1b[31mred\\nfake error.jpg"),
    ("cr\rdel\x7fbell\x07tab\t", "cr\\rdel\\x7fbell\\x07tab\\t"),
    ("c1\x9bcsi", "c1\\x9bcsi"),  # C1 controls: \x9b is a one-byte CSI on some terminals
    ("bidi\u202eexe.png", "bidi\\u202eexe.png"),  # right-to-left override: shows 'gnp.exe'
    ("line\u2028sep", "line\\u2028sep"),
    ("undecodable\udcff.png", "undecodable\\udcff.png"),  # os.fsdecode of a byte that is not UTF-8
    ("Monet — été.jpg", "Monet — été.jpg"),  # printable non-ASCII stays as it is
])
def test_printable_shows_control_characters_as_escapes(text, shown):
    assert printable(text) == shown


def test_a_hostile_file_name_stays_one_visible_line(files):
    output = files / "out.png"
    result = run("paint", "--style", files / f"{HOSTILE}.jpg", "--output", output, *FAST)
    assert result.exit_code == 2 and not output.exists()
    message = result.output.strip()
    assert "\n" not in message and "\x1b" not in message, repr(message)
    assert message.startswith("error: ") and "a\\x1b[31mred\\nfake error.jpg: no such" in message


def test_a_missing_file_with_markup_in_its_name_is_named_as_it_is(files):
    result = run("paint", "--style", files / "in" / "[bold]Monet.jpg", "--output", files / "out.png", *FAST)
    assert result.exit_code == 2 and "in/[bold]Monet.jpg: no such" in result.output, result.output


def test_an_output_name_with_markup_paints_and_is_reported_as_it_is(files):
    output = files / "out" / "a[/]b.png"
    result = run("paint", "--style", files / "style.png", "--map", files / "doodle.png", "--output", output, *FAST)
    assert result.exit_code == 0, result.output
    assert output.exists() and "out/a[/]b.png (24x24" in result.output


def test_the_report_of_a_hostile_output_name_is_one_line(files):
    output = files / f"{HOSTILE}.png"
    result = run("paint", "--style", files / "style.png", "--map", files / "doodle.png", "--output", output, *FAST)
    assert result.exit_code == 0, result.output
    assert output.exists()
    lines = [line for line in result.output.splitlines() if line.startswith("wrote")]
    assert len(lines) == 1 and "\x1b" not in result.output and "\\nfake error.png (24x24" in lines[0]
